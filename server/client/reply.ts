import type { TunnelType } from "../domain/types.ts";
import { isIpv4 } from "../net/ipv4.ts";
import { AddressError } from "../net/errors.ts";
import { formatIpv6, parseIpv6 } from "../net/ipv6.ts";
import { parsePrefix6 } from "../net/prefix.ts";
import type { TunnelReplyFields } from "../protocol/replies.ts";

/** A parsed `+OK` answer to `tunnel`; the same shape the server builds its reply from. */
export type TunnelReply = TunnelReplyFields;

export type ReplyParse = { ok: true; reply: TunnelReply } | { ok: false; error: string };

const POSITIONAL: Record<TunnelType, number> = { tunnelonly: 2, host: 4, network: 3 };

/** What the tunnel line asked for: the reply must carry its fields (udp=, or tcp= and token=) and no others. */
export type RequestedTransport = "proto41" | "udp" | "tcp";

/**
 * Parses the server's answer to `tunnel … <type>` (see README, Protocol). Fields are read by
 * position as KAME clients do; after them only this project's extensions ` udp=<port>` and
 * ` tcp=<port> token=<token>` are read and other words are ignored, so later extensions do not
 * break this client.
 */
export function parseTunnelReply(line: string, type: TunnelType, requested: RequestedTransport): ReplyParse {
  const words = line.split(/[ \t]+/).filter((w) => w !== "");
  const fail = (error: string): ReplyParse => ({ ok: false, error: `${error}: ${JSON.stringify(line.slice(0, 200))}` });
  if (words[0] !== "+OK") return fail("not a +OK reply");
  const fields = words.slice(1, 1 + POSITIONAL[type]);
  if (fields.length < POSITIONAL[type]) return fail(`too few fields for a ${type} tunnel`);
  const [clientIPv4, serverIPv4, third, fourth] = fields as [string, string, string?, string?];
  if (!isIpv4(clientIPv4) || !isIpv4(serverIPv4)) return fail("expected the client and server IPv4 addresses");

  let serverUdpPort: number | null = null;
  let tcpPort: number | null = null;
  let token: string | null = null;
  for (const word of words.slice(1 + POSITIONAL[type])) {
    const [name, value] = [word.slice(0, word.indexOf("=") + 1), word.slice(word.indexOf("=") + 1)];
    if (name === "udp=" || name === "tcp=") {
      const port = /^[0-9]{1,5}$/.test(value) ? Number(value) : 0;
      if (port < 1 || port > 65535) return fail(`${name} is not a port`);
      if (name === "udp=") serverUdpPort = port;
      else tcpPort = port;
    } else if (name === "token=") {
      if (!/^[0-9a-fA-F]{32}$/.test(value)) return fail("token= is not a token");
      token = value.toLowerCase();
    }
  }

  let reply: TunnelReply;
  const base = { clientIPv4, serverIPv4, serverUdpPort, tcp: tcpPort !== null && token !== null ? { port: tcpPort, token } : null };
  try {
    switch (type) {
      case "tunnelonly":
        reply = { ...base, type };
        break;
      case "host":
        reply = { ...base, type, clientIPv6: formatIpv6(parseIpv6(third!)), serverIPv6: formatIpv6(parseIpv6(fourth!)) };
        break;
      case "network": {
        const prefix = parsePrefix6(third!);
        reply = { ...base, type, prefix: formatIpv6(prefix.address), prefixLength: prefix.length };
        break;
      }
    }
  } catch (err) {
    if (err instanceof AddressError) return fail(err.message);
    throw err;
  }
  if (requested === "udp" && serverUdpPort === null) return fail("no udp=<port> in the reply to proto=udp");
  if (requested !== "udp" && serverUdpPort !== null) return fail(`udp= in the reply to a ${requested === "tcp" ? "proto=tcp" : "protocol-41"} request`);
  if (requested === "tcp" && base.tcp === null) return fail("no tcp=<port> token=<token> in the reply to proto=tcp");
  if (requested !== "tcp" && (tcpPort !== null || token !== null)) return fail("tcp= in the reply to a request that was not proto=tcp");
  return { ok: true, reply };
}
