// What one visitor of the web app can hold, before Next sees anything: a request body of at most
// 1 MiB (counted as it arrives, whatever Content-Length says), 30 s to send a whole request, and a
// share of the connections. Connections count per address and in all, as the DTCP port counts
// unauthenticated ones: past the total, the oldest connection of the busiest address makes room,
// so a flood from many addresses costs a bounded number and a visitor with one connection is the
// last to go. A connection that shows a signed-in administrator's cookie moves to a reserve of its
// own, which no flood can take, so an administrator still gets in during one.
//
// Behind a reverse proxy (on 127.0.0.1 or ::1, or listed in BROKER_TRUSTED_PROXIES) every
// connection comes from the proxy's address: those are not counted, and the proxy's own limits
// apply to its clients.

import { IncomingMessage, type ServerOptions, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { UnauthenticatedConnections } from "../control/admission.ts";
import { RefusalReports } from "../control/abuse.ts";

export interface WebLimits {
  /** The largest request body taken; no form comes near it. */
  maxBodyBytes: number;
  /** A request's headers and body must have arrived within this. */
  requestTimeoutMs: number;
  /** Connections from one address. */
  maxPerAddress: number;
  /** Connections in all, outside the reserve. */
  maxConnections: number;
  /** Connections of signed-in administrators, kept apart. */
  reserve: number;
  /**
   * Bytes of request bodies still arriving, in all and per address: what a flood of bodies that
   * stall short of their end can make the web app hold. Past it a body is refused with 503.
   */
  maxBodyBytesInFlight: number;
  maxBodyBytesInFlightPerAddress: number;
}

export const DEFAULT_WEB_LIMITS: WebLimits = {
  maxBodyBytes: 1 << 20,
  requestTimeoutMs: 30_000,
  maxPerAddress: 64,
  maxConnections: 1024,
  reserve: 64,
  maxBodyBytesInFlight: 64 << 20,
  maxBodyBytesInFlightPerAddress: 4 << 20,
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
  /** Bodies refused because too many bytes of bodies were arriving at once. */
  bodyBusy: number;
  reserved: number;
}

/** After a 413 the rest of the body is read and dropped this long, so that the peer sees the answer rather than a reset. */
const LINGER_MS = 1_000;

export class WebGuard {
  readonly counters: WebGuardCounters = { refusedPerAddress: 0, evicted: 0, bodyTooLarge: 0, bodyBusy: 0, reserved: 0 };
  #inFlight = 0;
  readonly #inFlightByAddress = new Map<string, number>();
  readonly #pool: UnauthenticatedConnections<Socket>;
  readonly #reserve = new Set<Socket>();
  readonly #reports = new RefusalReports();
  readonly #responses = new WeakMap<IncomingMessage, ServerResponse>();
  readonly #cut = new WeakSet<IncomingMessage>();
  /** A class for http.createServer's IncomingMessage option: bodies are counted as they arrive. */
  readonly requestClass: typeof IncomingMessage;

  constructor(
    readonly limits: WebLimits,
    private readonly deps: WebGuardDeps,
  ) {
    this.#pool = new UnauthenticatedConnections({ maxUnauthenticated: limits.maxConnections, maxUnauthenticatedPerAddress: limits.maxPerAddress });
    const guard = this;
    this.requestClass = class BoundedRequest extends IncomingMessage {
      #received = 0;
      #charged = 0;
      #address: string | null = null;

      override push(chunk: unknown, encoding?: BufferEncoding): boolean {
        if (chunk === null || chunk === undefined) {
          this.#release();
          return super.push(chunk, encoding);
        }
        if (guard.#cut.has(this)) return true;
        const length = (chunk as Buffer).length;
        this.#received += length;
        if (this.#received > guard.limits.maxBodyBytes) {
          // Dropped, not buffered: whoever reads the body never holds more than the limit.
          this.#release();
          guard.#refuse(this, 413);
          return true;
        }
        if (this.#charged === 0) {
          this.#address = plain(this.socket.remoteAddress ?? "");
          this.once("close", () => this.#release());
        }
        if (!guard.#charge(this.#address!, length)) {
          this.#release();
          guard.#refuse(this, 503);
          return true;
        }
        this.#charged += length;
        return super.push(chunk, encoding);
      }

      /** The body is whole, refused or gone: its bytes no longer count as arriving. */
      #release(): void {
        if (this.#charged === 0) return;
        guard.#discharge(this.#address!, this.#charged);
        this.#charged = 0;
      }
    };
  }

  /** Bytes of request bodies still arriving. */
  get bodyBytesInFlight(): number {
    return this.#inFlight;
  }

  #charge(address: string, bytes: number): boolean {
    const counted = !this.deps.uncounted(address);
    const mine = this.#inFlightByAddress.get(address) ?? 0;
    if (this.#inFlight + bytes > this.limits.maxBodyBytesInFlight) return false;
    if (counted && mine + bytes > this.limits.maxBodyBytesInFlightPerAddress) return false;
    this.#inFlight += bytes;
    this.#inFlightByAddress.set(address, mine + bytes);
    return true;
  }

  #discharge(address: string, bytes: number): void {
    this.#inFlight -= bytes;
    const left = (this.#inFlightByAddress.get(address) ?? 0) - bytes;
    if (left <= 0) this.#inFlightByAddress.delete(address);
    else this.#inFlightByAddress.set(address, left);
  }

  /** Options for http.createServer: the timeouts, checked every second. */
  get serverOptions(): ServerOptions {
    const ms = this.limits.requestTimeoutMs;
    return { IncomingMessage: this.requestClass, requestTimeout: ms, headersTimeout: ms, keepAliveTimeout: Math.min(5_000, ms), connectionsCheckingInterval: Math.min(1_000, ms) };
  }

  /** Open connections that count (outside the reserve). */
  get counted(): number {
    return this.#pool.size;
  }

  get reserved(): number {
    return this.#reserve.size;
  }

  /** For the server's "connection" event: counts the connection, or refuses it. */
  admit(socket: Socket): void {
    const address = plain(socket.remoteAddress ?? "");
    if (this.deps.uncounted(address)) return;
    const admission = this.#pool.admit(address, socket);
    if (!admission.admitted) {
      this.counters.refusedPerAddress++;
      if (this.#reports.due(address)) this.deps.log(`refusing connections from ${address}: it holds ${this.limits.maxPerAddress} already (said once a minute)`);
      socket.destroy();
      return;
    }
    if (admission.evicted) {
      this.counters.evicted++;
      if (this.#reports.due("\u0000evicted")) this.deps.log(`${this.limits.maxConnections} connections open: closing the oldest of the busiest addresses to make room (said once a minute)`);
      admission.evicted.destroy();
    }
    socket.once("close", () => {
      this.#pool.release(socket);
      this.#reserve.delete(socket);
    });
  }

  /**
   * Before a request goes to Next: false when it was answered here (a declared body over the
   * limit). A counted connection whose request shows a signed-in administrator joins the reserve.
   */
  accept(req: IncomingMessage, res: ServerResponse): boolean {
    this.#responses.set(req, res);
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > this.limits.maxBodyBytes) {
      this.#refuse(req, 413);
      return false;
    }
    const socket = req.socket;
    if (!this.#reserve.has(socket) && this.#reserve.size < this.limits.reserve && /(?:^|;\s*)broker_session=/.test(req.headers.cookie ?? "")) {
      this.deps.signedInAdmin(req).then(
        (admin) => {
          if (admin) this.reserve(socket);
        },
        () => {},
      );
    }
    return true;
  }

  /** Moves a signed-in administrator's connection out of the flood's reach, while the reserve has room. */
  reserve(socket: Socket): void {
    if (socket.destroyed || this.#reserve.size >= this.limits.reserve || this.#reserve.has(socket)) return;
    this.#pool.release(socket);
    this.#reserve.add(socket);
    this.counters.reserved++;
  }

  /** Forgets old refusal reports; called now and then. */
  sweep(): void {
    this.#reports.sweep();
  }

  /** Whether this request's body was cut here (its handler's failure to read it is no news). */
  wasCut(req: IncomingMessage): boolean {
    return this.#cut.has(req);
  }

  /** 413: the body is over the limit; 503: too many bodies are arriving at once, try again. */
  #refuse(req: IncomingMessage, status: 413 | 503): void {
    if (this.#cut.has(req)) return;
    this.#cut.add(req);
    if (status === 413) this.counters.bodyTooLarge++;
    else this.counters.bodyBusy++;
    const socket = req.socket;
    const res = this.#responses.get(req);
    const text =
      status === 413 ? `The request is larger than the ${this.limits.maxBodyBytes} bytes this server takes.\n` : "The server is receiving too many requests at once; try again in a moment.\n";
    // Without "Connection: close": Node would close at once, and a peer still sending would get a
    // reset before it read the answer. The connection goes after the linger instead.
    if (res !== undefined && !res.headersSent) {
      res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(text), ...(status === 503 ? { "retry-after": "5" } : {}) }).end(text);
    }
    // The handler's read of the body fails (it never ends), then the connection goes.
    setTimeout(() => {
      req.destroy(new Error(status === 413 ? "request body too large" : "too many request bodies at once"));
      socket.destroy();
    }, LINGER_MS).unref();
  }
}

/** The address without the IPv4-mapped prefix a dual-stack socket reports. */
function plain(address: string): string {
  return address.startsWith("::ffff:") ? address.slice(7) : address;
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
