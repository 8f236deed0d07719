// What one visitor of the web app can hold, before Next sees anything:
// - a request body of at most 1 MiB, counted as it arrives whatever Content-Length says (413);
// - a share of the bytes of bodies held at once, per address and in all (503, Retry-After);
// - 30 s to send a whole request;
// - a share of the connections, per address and in all, as the DTCP port counts unauthenticated
//   ones: past the total, the oldest waiting connection of the busiest address makes room, so a
//   flood from many addresses costs a bounded number and a visitor with one connection is the
//   last to go. An IPv6 "address" is its /64: a host picks addresses in it freely.
// A request reaches Next only once it has arrived whole: a slow sender costs a parser and its
// buffered bytes, never a request in Next. While it is being answered its connection is out of the
// flood's reach, and a connection that shows a signed-in administrator's cookie moves to a reserve
// of its own, so an administrator still gets in during a flood.
//
// Behind a reverse proxy (on 127.0.0.1 or ::1, or listed in BROKER_TRUSTED_PROXIES) every
// connection comes from the proxy's address: those are not counted, and the proxy's own limits
// apply to its clients. Bodies through it still count in the total.

import { IncomingMessage, type ServerOptions, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { CountedConnections } from "../control/counted-connections.ts";
import { boundedHttpOptions } from "../net/connection-limits.ts";
import { unmapIpv4 } from "../net/ipv4.ts";
import { peerNetwork } from "../net/peer-network.ts";

export interface WebLimits {
  /** The largest request body taken; no form comes near it. */
  maxBodyBytes: number;
  /** A request's headers and body must have arrived within this. */
  requestTimeoutMs: number;
  /** Connections from one address. */
  maxPerAddress: number;
  /** Connections waiting on a request, in all (the ones being answered and the reserve apart). */
  maxConnections: number;
  /** Connections of signed-in administrators, kept apart. */
  reserve: number;
  /** Bytes of request bodies held (arriving, or waiting to be answered), in all and per address. */
  maxBodyBytesHeld: number;
  maxBodyBytesHeldPerAddress: number;
}

export const DEFAULT_WEB_LIMITS: WebLimits = {
  maxBodyBytes: 1 << 20,
  requestTimeoutMs: 30_000,
  maxPerAddress: 64,
  maxConnections: 1024,
  reserve: 64,
  maxBodyBytesHeld: 64 << 20,
  maxBodyBytesHeldPerAddress: 4 << 20,
};

export interface WebGuardDeps {
  /** Peers whose connections are not counted (the reverse proxy in front). */
  uncounted(address: string): boolean;
  /** Whether a request's cookies are those of a signed-in administrator. */
  signedInAdmin(req: IncomingMessage): Promise<boolean>;
  log(message: string): void;
}

/** Counts of what the limits cut, for the fuzz script and tests. */
export interface WebGuardCounters {
  refusedPerAddress: number;
  evicted: number;
  bodyTooLarge: number;
  /** Bodies refused because too many bytes of bodies were held at once. */
  bodyBusy: number;
  reserved: number;
}

/** After a 413 or 503 the connection stays this long, so that the peer reads the answer before the connection goes. */
const LINGER_MS = 1_000;

export class WebGuard {
  readonly #counters = { bodyTooLarge: 0, bodyBusy: 0, reserved: 0 };
  /** Connections waiting on a request (or idle between requests): the ones a flood can fill. */
  readonly #waiting: CountedConnections<Socket>;
  /** The key each counted connection counts under; null for the reverse proxy's. */
  readonly #keys = new WeakMap<Socket, string | null>();
  /** Counted connections whose request is being answered. */
  readonly #answering = new Map<Socket, string>();
  readonly #reserve = new Set<Socket>();
  #held = 0;
  readonly #heldByAddress = new Map<string, number>();
  readonly #askedAdmin = new WeakSet<Socket>();
  readonly #holdings = new WeakMap<IncomingMessage, { address: string; bytes: number }>();
  readonly #responses = new WeakMap<IncomingMessage, ServerResponse>();
  readonly #cut = new WeakSet<IncomingMessage>();
  readonly #whole = new WeakMap<IncomingMessage, () => void>();
  /** A class for http.createServer's IncomingMessage option: bodies are counted and held as they arrive. */
  readonly requestClass: typeof IncomingMessage;

  constructor(
    readonly limits: WebLimits,
    private readonly deps: WebGuardDeps,
  ) {
    this.#waiting = new CountedConnections(
      { maxUnauthenticated: limits.maxConnections, maxUnauthenticatedPerAddress: limits.maxPerAddress },
      {
        refused: (address) => deps.log(`refusing connections from ${address}: it holds ${limits.maxPerAddress} already (said once a minute)`),
        evicting: () => deps.log(`${limits.maxConnections} connections waiting on requests: closing the oldest of the busiest addresses to make room (said once a minute)`),
      },
    );
    const guard = this;
    this.requestClass = class BoundedRequest extends IncomingMessage {
      #received = 0;

      // Always "more, please": the body is held here until it is whole (bounded by the limits
      // above), rather than letting the socket wait on a reader that only comes once it is whole.
      override push(chunk: unknown, encoding?: BufferEncoding): boolean {
        if (chunk === null || chunk === undefined) {
          super.push(chunk, encoding);
          guard.#whole.get(this)?.();
          guard.#whole.delete(this);
          return true;
        }
        if (guard.#cut.has(this)) return true;
        const length = (chunk as Buffer).length;
        this.#received += length;
        if (this.#received > guard.limits.maxBodyBytes) guard.#refuse(this, 413);
        else if (!guard.#hold(this, length)) guard.#refuse(this, 503);
        else super.push(chunk, encoding);
        return true;
      }
    };
  }

  /** Options for http.createServer: the request class and the timeouts, checked every second. */
  get serverOptions(): ServerOptions {
    return { ...boundedHttpOptions(this.limits.requestTimeoutMs), IncomingMessage: this.requestClass };
  }

  /** What the limits cut, for the fuzz script and tests. */
  get counters(): WebGuardCounters {
    return { refusedPerAddress: this.#waiting.cut.perAddress, evicted: this.#waiting.cut.evicted, ...this.#counters };
  }

  /** Counted connections waiting on a request. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Counted connections being answered. */
  get answering(): number {
    return this.#answering.size;
  }

  get reserved(): number {
    return this.#reserve.size;
  }

  /** Bytes of request bodies held. */
  get bodyBytesHeld(): number {
    return this.#held;
  }

  /** For the server's "connection" event: counts the connection, or refuses it. */
  admit(socket: Socket): void {
    const address = this.#counted(socket);
    if (address === null) return;
    if (!this.#waiting.admit(address, socket)) return void socket.destroy();
    socket.once("close", () => {
      this.#waiting.release(socket);
      this.#answering.delete(socket);
      this.#reserve.delete(socket);
    });
  }

  /**
   * For the server's "request" event: calls `answer` once the request has arrived whole, or answers
   * it here (413, 503) and does not. A counted connection whose request shows a signed-in
   * administrator joins the reserve.
   */
  accept(req: IncomingMessage, res: ServerResponse, answer: () => void): void {
    this.#responses.set(req, res);
    res.once("close", () => this.#release(req));
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > this.limits.maxBodyBytes) return this.#refuse(req, 413);
    const socket = req.socket;
    // Asked once per connection: a signed-in user who is no administrator costs one look-up, not one a request.
    if (!this.#askedAdmin.has(socket) && this.#reserve.size < this.limits.reserve && /(?:^|;\s*)broker_session=/.test(req.headers.cookie ?? "")) {
      this.#askedAdmin.add(socket);
      this.deps.signedInAdmin(req).then(
        (admin) => {
          if (admin) this.reserve(socket);
        },
        () => {},
      );
    }
    const go = () => {
      if (this.#cut.has(req) || socket.destroyed) return;
      this.#answer(socket, res);
      answer();
    };
    // Not from inside the HTTP parser's callback: Next starts on a turn of its own.
    if (req.complete) process.nextTick(go);
    else this.#whole.set(req, () => process.nextTick(go));
  }

  /** Moves a signed-in administrator's connection out of the flood's reach, while the reserve has room. */
  reserve(socket: Socket): void {
    if (socket.destroyed || this.#reserve.size >= this.limits.reserve || this.#reserve.has(socket)) return;
    this.#waiting.release(socket);
    this.#answering.delete(socket);
    this.#reserve.add(socket);
    this.#counters.reserved++;
  }

  /** Whether this request's body was cut here (its handler's failure to read it is no news). */
  wasCut(req: IncomingMessage): boolean {
    return this.#cut.has(req);
  }

  /** Forgets old refusal reports; called now and then. */
  sweep(): void {
    this.#waiting.sweep();
  }

  /** The request arrived whole: its connection is out of the flood's reach until it is answered. */
  #answer(socket: Socket, res: ServerResponse): void {
    const address = this.#counted(socket);
    if (address === null || this.#reserve.has(socket) || this.#answering.has(socket)) return;
    this.#waiting.release(socket);
    this.#answering.set(socket, address);
    res.once("finish", () => {
      if (!this.#answering.delete(socket) || socket.destroyed || this.#reserve.has(socket)) return;
      // Waiting for its next request, it counts again; with no room for it, it is closed once the answer is out.
      if (!this.#waiting.admit(address, socket)) socket.end();
    });
  }

  /** The key a connection counts under (its IPv4 address or IPv6 /64); null for the reverse proxy's. */
  #counted(socket: Socket): string | null {
    let key = this.#keys.get(socket);
    if (key === undefined) {
      const address = unmapIpv4(socket.remoteAddress ?? "");
      key = this.deps.uncounted(address) ? null : peerNetwork(address);
      this.#keys.set(socket, key);
    }
    return key;
  }

  #hold(req: IncomingMessage, bytes: number): boolean {
    const counted = this.#counted(req.socket);
    const address = counted ?? unmapIpv4(req.socket.remoteAddress ?? "");
    const mine = this.#heldByAddress.get(address) ?? 0;
    if (this.#held + bytes > this.limits.maxBodyBytesHeld) return false;
    if (counted !== null && mine + bytes > this.limits.maxBodyBytesHeldPerAddress) return false;
    this.#held += bytes;
    this.#heldByAddress.set(address, mine + bytes);
    this.#holdings.set(req, { address, bytes: (this.#holdings.get(req)?.bytes ?? 0) + bytes });
    return true;
  }

  /** The request was answered, refused or went: its body no longer counts as held. */
  #release(req: IncomingMessage): void {
    const holding = this.#holdings.get(req);
    if (holding === undefined) return;
    this.#holdings.delete(req);
    this.#held -= holding.bytes;
    const left = (this.#heldByAddress.get(holding.address) ?? 0) - holding.bytes;
    if (left <= 0) this.#heldByAddress.delete(holding.address);
    else this.#heldByAddress.set(holding.address, left);
  }

  /** 413: the body is over the limit; 503: too many bytes of bodies are held, try again. */
  #refuse(req: IncomingMessage, status: 413 | 503): void {
    if (this.#cut.has(req)) return;
    this.#cut.add(req);
    this.#release(req);
    if (status === 413) this.#counters.bodyTooLarge++;
    else this.#counters.bodyBusy++;
    const socket = req.socket;
    const res = this.#responses.get(req);
    const text =
      status === 413 ? `The request is larger than the ${this.limits.maxBodyBytes} bytes this server takes.\n` : "The server is receiving too many requests at once; try again in a moment.\n";
    // Without "Connection: close": Node would close at once, and a peer still sending would get a
    // reset before it read the answer. Once the answer is out nothing more is read (the peer's
    // sending stalls on TCP's window rather than costing parsing), and the connection goes after
    // the linger.
    if (res !== undefined && !res.headersSent) {
      res.once("finish", () => setImmediate(() => socket.pause()));
      res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(text), ...(status === 503 ? { "retry-after": "5" } : {}) }).end(text);
    } else socket.pause();
    setTimeout(() => {
      req.destroy();
      socket.destroy();
    }, LINGER_MS).unref();
  }
}

/** The limits, with BROKER_WEB_MAX_CONNECTIONS, BROKER_WEB_MAX_PER_ADDRESS and BROKER_WEB_REQUEST_TIMEOUT (seconds) applied. */
export function webLimitsFromEnv(env: NodeJS.ProcessEnv): WebLimits {
  const whole = (name: string, fallback: number, min: number, max: number) => {
    const text = env[name];
    if (text === undefined || text === "") return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number from ${min} to ${max}; got ${JSON.stringify(text)}`);
    return n;
  };
  return {
    ...DEFAULT_WEB_LIMITS,
    maxConnections: Math.floor(whole("BROKER_WEB_MAX_CONNECTIONS", DEFAULT_WEB_LIMITS.maxConnections, 1, 1_000_000)),
    maxPerAddress: Math.floor(whole("BROKER_WEB_MAX_PER_ADDRESS", DEFAULT_WEB_LIMITS.maxPerAddress, 1, 1_000_000)),
    requestTimeoutMs: Math.round(whole("BROKER_WEB_REQUEST_TIMEOUT", DEFAULT_WEB_LIMITS.requestTimeoutMs / 1000, 1, 3_600) * 1000),
  };
}
