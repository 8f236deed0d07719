import type { TunnelType } from "../domain/types.ts";
import {
  INVALID_COMMAND,
  PORT_NEEDS_UDP,
  duplicateOption,
  invalidOption,
  unsupportedOption,
  unsupportedTunnelType,
} from "./replies.ts";

/** IPv6 over UDP/IPv4, this project's extension. */
export type UdpTransport = {
  /** The client's UDP port; null means NAT traversal (send to the packets' source). */
  clientPort: number | null;
};

export type Command =
  | {
      kind: "tunnel";
      user: string;
      response: string;
      type: TunnelType;
      /** null for IPv6-in-IPv4 (protocol 41) or over TCP. */
      udp: UdpTransport | null;
      /** proto=tcp: IPv6 over a TCP connection the client opens next (this project's extension). */
      tcp: boolean;
    }
  /** Turns this connection into the data connection of the session the token was issued to. */
  | { kind: "attach"; token: string }
  | { kind: "ping" }
  | { kind: "help" }
  | { kind: "quit" }
  | { kind: "empty" }
  | { kind: "error"; reply: string };

/** What `+OK … tcp=<port> token=<token>` hands out: 128 random bits in hex. */
const ATTACH_TOKEN = /^[0-9a-fA-F]{32}$/;

const TUNNEL_TYPES: ReadonlyMap<string, TunnelType> = new Map([
  ["tunnelonly", "tunnelonly"],
  ["host", "host"],
  ["network", "network"],
  ["tunnelroute", "network"],
]);

// Only ASCII letters fold, so no other character can pass as a keyword.
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/**
 * Parses one control line. Never throws: anything unusable becomes an
 * `error` carrying the reply to send. Arguments after `ping`, `help` and
 * `quit` are ignored, as old clients only look at the `+OK`.
 */
export function parseCommand(line: string): Command {
  const [verb, ...args] = line.split(/[ \t]/).filter((word) => word !== "");
  if (verb === undefined) return { kind: "empty" };
  switch (asciiLower(verb)) {
    case "tunnel":
      return parseTunnel(args);
    case "ping":
      return { kind: "ping" };
    case "help":
      return { kind: "help" };
    case "quit":
      return { kind: "quit" };
    case "attach":
      return args.length === 1 && ATTACH_TOKEN.test(args[0]!) ? { kind: "attach", token: args[0]!.toLowerCase() } : { kind: "error", reply: INVALID_COMMAND };
    default:
      return { kind: "error", reply: INVALID_COMMAND };
  }
}

function parseTunnel(args: string[]): Command {
  if (args.length < 3) return { kind: "error", reply: INVALID_COMMAND };
  const [user, response, typeWord, ...options] = args as [string, string, string, ...string[]];
  const type = TUNNEL_TYPES.get(asciiLower(typeWord));
  if (type === undefined) return { kind: "error", reply: unsupportedTunnelType(typeWord) };

  const parsed = parseOptions(options);
  if (parsed !== null && typeof parsed === "object" && "error" in parsed) return { kind: "error", reply: parsed.error };
  return { kind: "tunnel", user, response, type, udp: parsed === "tcp" ? null : parsed, tcp: parsed === "tcp" };
}

/**
 * This project's extension, after the four KAME words:
 *   proto=41          IPv6-in-IPv4, the default
 *   proto=udp         IPv6 over UDP/IPv4, NAT traversal
 *   proto=udp port=N  IPv6 over UDP/IPv4 to the client's UDP port N
 *   proto=tcp         IPv6 over a TCP (or TLS) connection, attached with the reply's token
 * Returns the `udp` field of the command, "tcp", or { error: reply }.
 */
function parseOptions(tokens: string[]): UdpTransport | null | "tcp" | { error: string } {
  let proto: "41" | "udp" | "tcp" | undefined;
  let port: number | undefined;
  for (const token of tokens) {
    const eq = token.indexOf("=");
    if (eq === -1) return { error: unsupportedOption(token) };
    const name = asciiLower(token.slice(0, eq));
    const value = token.slice(eq + 1);
    if (name === "proto") {
      if (proto !== undefined) return { error: duplicateOption(name) };
      const lowered = asciiLower(value);
      // An unknown protocol is a feature this server lacks, not a malformed value.
      if (lowered !== "41" && lowered !== "udp" && lowered !== "tcp") return { error: unsupportedOption(token) };
      proto = lowered;
    } else if (name === "port") {
      if (port !== undefined) return { error: duplicateOption(name) };
      const number = /^[0-9]+$/.test(value) ? Number(value) : 0;
      if (number < 1 || number > 65535) return { error: invalidOption(token) };
      port = number;
    } else {
      return { error: unsupportedOption(token) };
    }
  }
  if (proto !== "udp") return port !== undefined ? { error: PORT_NEEDS_UDP } : proto === "tcp" ? "tcp" : null;
  return { clientPort: port ?? null };
}
