import type { TunnelType } from "../domain/types.ts";
import { tunnelResponse } from "../protocol/challenge.ts";
import { isFinalRefusal, SESSION_KICKED, SESSION_REPLACED } from "../protocol/replies.ts";
import { parseTunnelReply, type TunnelReply } from "./reply.ts";

/** dtcpc(8) pings every 60 s; the server ends a session after 300 s without a line. */
export const PING_INTERVAL_MS = 60_000;
/** How long the greeting, the tunnel reply and a ping's `+OK` may take. */
export const REPLY_TIMEOUT_MS = 30_000;
/** A challenge as KAME's dtcps makes it: 128 bits in hex. */
const CHALLENGE = /^[0-9A-Fa-f]{32}$/;
/** How long to wait for the server's goodbye after `quit`. */
export const QUIT_TIMEOUT_MS = 2_000;

export interface SessionParams {
  user: string;
  password: string;
  type: TunnelType;
  /**
   * What to ask for: protocol 41; IPv6 over UDP, telling the server `port` (null: NAT traversal);
   * or IPv6 over TCP (the reply then names where to attach the data connection).
   */
  transport: { kind: "proto41" } | { kind: "udp"; port: number | null } | { kind: "tcp" };
  /** -n: accept a client address in the reply that is not ours. */
  acceptNat: boolean;
  pingIntervalMs?: number;
  replyTimeoutMs?: number;
}

export type SessionEnd =
  /** We asked for it (signal or SIGHUP) and said `quit`. */
  | { reason: "quit" }
  /** The session broke; connecting again may well work. */
  | { reason: "lost"; message: string }
  /** The server said no for now (its own failure, or one of its limits): ask again after the back-off, the same way. */
  | { reason: "deferred"; message: string }
  /** The server or this host refused; connecting again would be refused the same way. */
  | { reason: "refused"; message: string };

export type SessionAction =
  /** Send `line`; `log` is what may be logged of it (the tunnel line carries the response hash). */
  | { kind: "send"; line: string; log: string }
  /** The server's challenge, before the response to it goes out: a server that repeats one is worth a warning. */
  | { kind: "challenge"; challenge: string }
  /** (Re)arm the session's one timer; call timer() when it fires. */
  | { kind: "timer"; ms: number }
  /** The tunnel is granted: configure it. */
  | { kind: "up"; reply: TunnelReply }
  /** Over: close the connection and tear the tunnel down. Nothing follows. */
  | { kind: "end"; end: SessionEnd };

type State = "connecting" | "greeting" | "tunnel" | "up" | "quitting" | "ended";

/**
 * One control session of the client, as a pure state machine: the driver feeds it what happened
 * (connected, a line, the timer fired, the connection closed, a quit was asked for) and carries
 * out the actions it returns. It holds the password only to compute the response.
 */
export class ControlSession {
  #state: State = "connecting";
  #localIpv4 = "";
  #awaitingPong = false;
  #pendingEnd: SessionEnd = { reason: "quit" };
  readonly #pingIntervalMs: number;
  readonly #replyTimeoutMs: number;

  constructor(private readonly params: SessionParams) {
    this.#pingIntervalMs = params.pingIntervalMs ?? PING_INTERVAL_MS;
    this.#replyTimeoutMs = params.replyTimeoutMs ?? REPLY_TIMEOUT_MS;
  }

  get state(): State {
    return this.#state;
  }

  /** Before connecting: bounds the connection attempt. */
  begin(): SessionAction[] {
    return [{ kind: "timer", ms: this.#replyTimeoutMs }];
  }

  /** The TCP connection is up; `localIpv4` is our end of it. */
  connected(localIpv4: string): SessionAction[] {
    if (this.#state !== "connecting") return [];
    this.#localIpv4 = localIpv4;
    this.#state = "greeting";
    return [{ kind: "timer", ms: this.#replyTimeoutMs }];
  }

  line(text: string): SessionAction[] {
    switch (this.#state) {
      case "greeting":
        return this.#greeting(text);
      case "tunnel":
        return this.#tunnelReply(text);
      case "up":
        return this.#upLine(text);
      case "quitting":
        if (!text.startsWith("+OK") && !text.startsWith("-ERR")) return [];
        if (this.#awaitingPong) {
          this.#awaitingPong = false;
          return [];
        }
        return this.#end(this.#pendingEnd);
      default:
        return [];
    }
  }

  timer(): SessionAction[] {
    switch (this.#state) {
      case "connecting":
        return this.#end({ reason: "lost", message: `no connection within ${this.#replyTimeoutMs / 1000} s` });
      case "greeting":
      case "tunnel":
        return this.#end({ reason: "lost", message: `no ${this.#state === "greeting" ? "greeting" : "reply to tunnel"} within ${this.#replyTimeoutMs / 1000} s` });
      case "up":
        if (this.#awaitingPong) {
          return this.#end({ reason: "lost", message: `no answer to ping within ${this.#replyTimeoutMs / 1000} s` });
        }
        this.#awaitingPong = true;
        return [
          { kind: "send", line: "ping", log: "ping" },
          { kind: "timer", ms: this.#replyTimeoutMs },
        ];
      case "quitting":
        return this.#end(this.#pendingEnd);
      default:
        return [];
    }
  }

  /** The connection closed or could not be made; `why` describes it. */
  closed(why = "the server closed the connection"): SessionAction[] {
    if (this.#state === "ended") return [];
    if (this.#state === "quitting") return this.#end(this.#pendingEnd);
    return this.#end({ reason: "lost", message: this.#state === "connecting" ? `cannot connect: ${why}` : why });
  }

  /** Ends the session politely (signal, SIGHUP, or the tunnel could not be configured). */
  quit(end: SessionEnd = { reason: "quit" }): SessionAction[] {
    if (this.#state === "ended" || this.#state === "quitting") return [];
    if (this.#state === "connecting") return this.#end(end);
    this.#state = "quitting";
    this.#pendingEnd = end;
    return [
      { kind: "send", line: "quit", log: "quit" },
      { kind: "timer", ms: QUIT_TIMEOUT_MS },
    ];
  }

  #greeting(text: string): SessionAction[] {
    // The challenge is the second word, whatever follows it ("KAME tunnel server", "FBDC TunnelBroker …").
    const words = text.split(/[ \t]+/);
    const challenge = words[0] === "+OK" ? words[1] : undefined;
    if (challenge === undefined || challenge === "") {
      return this.#end({ reason: "lost", message: `unexpected greeting ${JSON.stringify(text.slice(0, 200))}` });
    }
    // A challenge the server may choose freely (a short or fixed one) lets it look responses up in a table made in advance.
    if (!CHALLENGE.test(challenge)) {
      return this.#end({ reason: "lost", message: `the server's challenge is not 32 hex digits: ${JSON.stringify(challenge.slice(0, 64))}` });
    }
    const { user, password, type, transport } = this.params;
    const extension = transport.kind === "proto41" ? "" : transport.kind === "tcp" ? " proto=tcp" : transport.port === null ? " proto=udp" : ` proto=udp port=${transport.port}`;
    // Uppercase, as the KAME client sends it: KAME's dtcps compares it exactly with its own uppercase hex.
    const response = tunnelResponse(user, challenge, password).toUpperCase();
    this.#state = "tunnel";
    return [
      { kind: "challenge", challenge: challenge.toUpperCase() },
      { kind: "send", line: `tunnel ${user} ${response} ${type}${extension}`, log: `tunnel ${user} <response> ${type}${extension}` },
      { kind: "timer", ms: this.#replyTimeoutMs },
    ];
  }

  #tunnelReply(text: string): SessionAction[] {
    if (text.startsWith("-ERR")) {
      const message = `the server refused the tunnel: ${text.slice(0, 200)}`;
      return this.#end({ reason: isFinalRefusal(text) ? "refused" : "deferred", message });
    }
    const parsed = parseTunnelReply(text, this.params.type, this.params.transport.kind);
    if (!parsed.ok) return this.quit({ reason: "refused", message: parsed.error });
    const { reply } = parsed;
    const { transport } = this.params;
    // Over TCP, and over UDP without a port (NAT traversal), the server answers whatever the NAT shows it.
    const natMatters = transport.kind === "proto41" || (transport.kind === "udp" && transport.port !== null);
    if (natMatters && reply.clientIPv4 !== this.#localIpv4 && !this.params.acceptNat) {
      // KAME's check: the server would send to an address this host does not have.
      return this.quit({
        reason: "refused",
        message: `you are behind a NAT box (the server sees ${reply.clientIPv4}, this host is ${this.#localIpv4}); use -n`,
      });
    }
    this.#state = "up";
    return [
      { kind: "up", reply },
      { kind: "timer", ms: this.#pingIntervalMs },
    ];
  }

  #upLine(text: string): SessionAction[] {
    if (text === SESSION_REPLACED) {
      // Another client logged in as this user: reconnecting would only take the tunnel back and forth.
      return this.#end({ reason: "refused", message: `${text.slice(5)}: ${this.params.user} logged in elsewhere` });
    }
    // An administrator ended it: coming straight back with -l would defeat the point.
    if (text === SESSION_KICKED) return this.#end({ reason: "refused", message: text.slice(5) });
    if (text.startsWith("-ERR")) return this.#end({ reason: "lost", message: `the server ended the session: ${text.slice(0, 200)}` });
    if (text.startsWith("+OK") && this.#awaitingPong) {
      this.#awaitingPong = false;
      return [{ kind: "timer", ms: this.#pingIntervalMs }];
    }
    return [];
  }

  #end(end: SessionEnd): SessionAction[] {
    this.#state = "ended";
    return [{ kind: "end", end }];
  }
}
