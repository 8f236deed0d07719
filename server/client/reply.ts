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

/**
 * Parses the server's answer to `tunnel … <type>` (see README, Protocol). Fields are read by
 * position as KAME clients do; after them only ` udp=<port>` (this project's extension) is read
 * and other words are ignored, so later extensions do not break this client. `udp` says whether
 * we asked for IPv6 over UDP: the reply must then carry udp= and otherwise must not.
 */
export function parseTunnelReply(line: string, type: TunnelType, udp: boolean): ReplyParse {
  const words = line.split(/[ \t]+/).filter((w) => w !== "");
  const fail = (error: string): ReplyParse => ({ ok: false, error: `${error}: ${JSON.stringify(line.slice(0, 200))}` });
  if (words[0] !== "+OK") return fail("not a +OK reply");
  const fields = words.slice(1, 1 + POSITIONAL[type]);
  if (fields.length < POSITIONAL[type]) return fail(`too few fields for a ${type} tunnel`);
  const [clientIPv4, serverIPv4, third, fourth] = fields as [string, string, string?, string?];
  if (!isIpv4(clientIPv4) || !isIpv4(serverIPv4)) return fail("expected the client and server IPv4 addresses");

  let serverUdpPort: number | null = null;
  for (const word of words.slice(1 + POSITIONAL[type])) {
    const m = /^udp=([0-9]{1,5})$/.exec(word);
    if (m === null) continue;
    serverUdpPort = Number(m[1]);
    if (serverUdpPort < 1 || serverUdpPort > 65535) return fail("udp= is not a port");
  }

  let reply: TunnelReply;
  const base = { clientIPv4, serverIPv4, serverUdpPort };
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
  if (udp && serverUdpPort === null) return fail("no udp=<port> in the reply to proto=udp");
  if (!udp && serverUdpPort !== null) return fail("udp= in the reply to a protocol-41 request");
  return { ok: true, reply };
}
