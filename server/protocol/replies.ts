import type { TunnelType } from "../domain/types.ts";

// Every reply text the server sends is built here. Replies carry no line
// ending; `wire` adds the CRLF that KAME dtcps sends.

export function greeting(challenge: string): string {
  return `+OK ${challenge} KAME tunnel server`;
}

export const PONG = "+OK hi, happy to hear from you";
export const HELP = "+OK valid commands are: TUNNEL PING QUIT";
export const BYE = "+OK see you soon.";

export const AUTH_FAILED = "-ERR authentication failed.";
export const TOO_MANY_FAILURES = "-ERR too many failed logins, try again later";
/** A user who logs in again and again (a client in a loop) waits this long before the next login. */
export const tooManyLogins = (waitSeconds: number) => `-ERR too many logins in a short time; try again in ${waitSeconds} s`;
export const USER_REVOKED = "-ERR account removed or disabled";
export const PASSWORD_CHANGED = "-ERR tunnel password changed";
/** The user now belongs to another POP: their client must connect there (the portal shows where). */
export const USER_MOVED = "-ERR account moved to another server; see the portal for its address";
export const SOLD_OUT = "-ERR tunnel interface sold out";
export const LINE_TOO_LONG = "-ERR line too long";
export const TIMED_OUT = "-ERR connection timed out, disconnecting";
export const SESSION_REPLACED = "-ERR session replaced";
export const SESSION_KICKED = "-ERR session ended by an administrator";
export const SERVER_SHUTTING_DOWN = "-ERR server shutting down";
/** The server could not answer for a reason of its own (its database unavailable, its disk full): come back later. */
export const TEMPORARY_FAILURE = "-ERR temporary failure, try again later";
export const ALREADY_ESTABLISHED = "-ERR already established";
export const INVALID_COMMAND = "-ERR invalid command";
export const PORT_NEEDS_UDP = "-ERR option port needs proto=udp";
/** A data connection's answer to a good `attach <token>`: what follows is framed packets. */
export const ATTACHED = "+OK attached";
export const ATTACH_REFUSED = "-ERR unknown or expired token";
export const ATTACH_NOT_HERE = "-ERR attach only on a TCP tunnel port";
export const TCP_NOT_ENABLED = "-ERR TCP tunnels are not enabled on this server (dtcps --tcp-tunnels)";
export const NO_DATA_CONNECTION = "-ERR no tunnel connection attached in time";

export function unsupportedTunnelType(type: string): string {
  return `-ERR unsupported tunnel type ${sanitizeEcho(type)}`;
}

export function unsupportedOption(token: string): string {
  return `-ERR unsupported option ${sanitizeEcho(token)}`;
}

export function invalidOption(token: string): string {
  return `-ERR invalid option ${sanitizeEcho(token)}`;
}

export function duplicateOption(name: string): string {
  return `-ERR duplicate option ${sanitizeEcho(name)}`;
}

/**
 * Refusals that asking again cannot change: the user's credentials or account, or a request this
 * client will only ever send the same way. A client that reconnects (`dtcpc -l`) stops on these and
 * retries every other `-ERR` with its back-off: the server's own failures, its limits, a pool the
 * operator has yet to fill, and replies it does not know.
 */
export function isFinalRefusal(reply: string): boolean {
  return FINAL_REFUSALS.has(reply) || FINAL_REFUSAL_PREFIXES.some((prefix) => reply.startsWith(prefix));
}

const FINAL_REFUSALS = new Set([AUTH_FAILED, USER_REVOKED, PASSWORD_CHANGED, USER_MOVED, SESSION_REPLACED, SESSION_KICKED, INVALID_COMMAND, PORT_NEEDS_UDP, ALREADY_ESTABLISHED]);
const FINAL_REFUSAL_PREFIXES = ["-ERR unsupported tunnel type ", "-ERR unsupported option ", "-ERR invalid option ", "-ERR duplicate option "];

const MAX_ECHO_CHARS = 64;

// Control, format, unassigned/private-use code points, lone surrogates, and
// Unicode line/paragraph separators: anything that could break the reply line.
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/gu;

/** Client text echoed in a reply: printable only, at most 64 characters. */
function sanitizeEcho(text: string): string {
  return Array.from(text.replace(UNPRINTABLE, "")).slice(0, MAX_ECHO_CHARS).join("");
}

export type TunnelReplyFields = {
  clientIPv4: string;
  serverIPv4: string;
  /** The server's UDP port for IPv6 over UDP; null for IPv6-in-IPv4 (protocol 41) or over TCP. */
  serverUdpPort: number | null;
  /** IPv6 over TCP: the port to open the data connection to, and the token to attach it with. */
  tcp?: { port: number; token: string } | null;
} & (
  | { type: Extract<TunnelType, "tunnelonly"> }
  | { type: Extract<TunnelType, "host">; clientIPv6: string; serverIPv6: string }
  | { type: Extract<TunnelType, "network">; prefix: string; prefixLength: number }
);

/**
 * `+OK <client IPv4> <server IPv4>` followed by the type's fields. Clients
 * split on spaces and read by position, so the UDP extension goes last.
 */
export function tunnelReply(fields: TunnelReplyFields): string {
  const words = ["+OK", fields.clientIPv4, fields.serverIPv4];
  switch (fields.type) {
    case "tunnelonly":
      break;
    case "host":
      words.push(fields.clientIPv6, fields.serverIPv6);
      break;
    case "network":
      words.push(`${fields.prefix}/${fields.prefixLength}`);
      break;
  }
  if (fields.serverUdpPort !== null) words.push(`udp=${fields.serverUdpPort}`);
  if (fields.tcp) words.push(`tcp=${fields.tcp.port}`, `token=${fields.tcp.token}`);
  return words.join(" ");
}

export function wire(reply: string): string {
  return `${reply}\r\n`;
}
