import { createServer, Socket, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { duplicateFd, socketPair } from "../dataplane/native.ts";
import type { Broker } from "../broker/broker.ts";
import { ProblemLog, type Logger } from "../log.ts";
import type { MetricFamily, MetricsSource } from "../metrics/exposition.ts";
import { unmapIpv4 } from "../net/ipv4.ts";
import { wire } from "../protocol/replies.ts";
import type { AdmissionLimits } from "./admission.ts";
import { CountedConnections } from "./counted-connections.ts";
import { ControlConnection, type ControlTimeouts } from "./connection.ts";

export interface ControlServerOptions {
  host: string;
  port: number;
  timeouts: ControlTimeouts;
  tunnels: TunnelListeners;
}

/** Listeners of IPv6 over TCP: DTCP as on the main port, and `attach` for data connections. */
export interface TunnelListeners {
  tcp: { host: string; port: number } | null;
  /** PEM certificate chain and key. */
  tls: { host: string; port: number; cert: Buffer; key: Buffer } | null;
}

/** What a connection arrived on. */
interface Listener {
  kind: "dtcp" | "tcp" | "tls";
  /** Where its TCP sessions attach their data connection; null: not offered. */
  attachPort: number | null;
}

/** A TLS handshake not done by then is given up. */
const TLS_HANDSHAKE_MS = 10_000;

/** Reports what the abuse limits refused, for the audit log. */
export type LimitReporter = (action: string, source: string, detail: Record<string, unknown>) => void;

/** Counts of what the listener cut short, for /metrics. */
export interface ControlServerCounters {
  /** Refused: the address held its share of unauthenticated connections. */
  refusedPerAddress: number;
  /** Unauthenticated connections closed to make room for newcomers. */
  evicted: number;
  /** Closed because their replies went unread for the drain timeout. */
  unreadClosed: number;
  /** Ended by the server and cut off because the peer did not close within the linger time. */
  lingerDestroyed: number;
}

/**
 * The DTCP listener (TCP 20200), and those of IPv6 over TCP (plain and TLS), which speak DTCP too
 * and also take `attach`: one ControlConnection per client connection.
 */
export class ControlServer implements MetricsSource {
  readonly #server: Server;
  readonly #tunnelServers: Server[] = [];
  /** The ports the tunnel listeners got (an ephemeral 0 resolved). */
  readonly #tunnelPorts = { tcp: null as number | null, tls: null as number | null };
  readonly #sockets = new Set<Socket>();
  /** TLS connections still in their handshake, by remote address:port. */
  readonly #handshaking = new Map<string, Socket>();
  readonly #idle = new Set<Promise<void>>();
  readonly #unauthenticated: CountedConnections<Socket>;
  readonly #cut = { unreadClosed: 0, lingerDestroyed: 0 };
  readonly #problems: ProblemLog;

  constructor(
    private readonly broker: Broker,
    limits: AdmissionLimits,
    private readonly log: Logger,
    private readonly options: ControlServerOptions,
    private readonly reportLimit: LimitReporter,
  ) {
    this.#problems = new ProblemLog(log);
    this.#unauthenticated = new CountedConnections(limits, {
      refused: (address) => {
        this.log.warn(`refusing connections from ${address}: too many unauthenticated connections`);
        this.reportLimit("dtcp.limit.connections", address, { limit: limits.maxUnauthenticatedPerAddress });
      },
      evicting: () => this.log.warn(`${limits.maxUnauthenticated} unauthenticated connections: closing the oldest of the busiest addresses to make room`),
    });
    this.#server = createServer((socket) => this.#accept(socket, { kind: "dtcp", attachPort: this.#tunnelPorts.tcp }));
  }

  /** Starts the tunnel listeners (if any), then the main one; returns the main one's address. */
  async listen(): Promise<AddressInfo> {
    const { tcp, tls } = this.options.tunnels;
    if (tcp) {
      const server = createServer((socket) => this.#accept(socket, { kind: "tcp", attachPort: this.#tunnelPorts.tcp }));
      this.#tunnelPorts.tcp = (await listenOn(server, tcp.host, tcp.port, "--tcp-tunnels")).port;
      this.#tunnelServers.push(server);
    }
    if (tls) {
      // A connection in its TLS handshake holds a descriptor as an unauthenticated one does: it
      // counts against the same limits from its TCP connect on (a refused one is cut at once, with
      // nothing to say in clear), and is handed over to the DTCP count once the handshake is done.
      const handshaking = this.#handshaking;
      const keyOf = (socket: Socket) => `${socket.remoteAddress}:${socket.remotePort}`;
      const server = createTlsServer({ cert: tls.cert, key: tls.key, handshakeTimeout: TLS_HANDSHAKE_MS }, (socket) => {
        const raw = handshaking.get(keyOf(socket));
        if (raw) {
          handshaking.delete(keyOf(socket));
          this.#unauthenticated.release(raw);
        }
        this.#accept(socket, { kind: "tls", attachPort: this.#tunnelPorts.tls });
      });
      server.on("connection", (raw: Socket) => {
        const key = keyOf(raw);
        if (!this.#unauthenticated.admit(unmapIpv4(raw.remoteAddress ?? ""), raw)) {
          raw.destroy();
          return;
        }
        handshaking.set(key, raw);
        raw.once("close", () => {
          if (handshaking.get(key) === raw) handshaking.delete(key);
          this.#unauthenticated.release(raw);
        });
      });
      // A peer that never finishes its handshake is dropped by the timeout; its error is its own.
      server.on("tlsClientError", (err, socket) => {
        this.log.debug(`TLS handshake from ${unmapIpv4(socket.remoteAddress ?? "")}: ${err.message}`);
        socket.destroy();
      });
      this.#tunnelPorts.tls = (await listenOn(server, tls.host, tls.port, "--tls-tunnels")).port;
      this.#tunnelServers.push(server);
    }
    return listenOn(this.#server, this.options.host, this.options.port, "-p");
  }

  /** Where the tunnel listeners listen (null: not offered). */
  get tunnelPorts(): { tcp: number | null; tls: number | null } {
    return { ...this.#tunnelPorts };
  }

  /** Open control connections, authenticated or not. */
  get connections(): number {
    return this.#sockets.size;
  }

  get unauthenticated(): number {
    return this.#unauthenticated.size;
  }

  /** Stops accepting and closes every connection (their sessions are ended by the broker first). */
  async close(): Promise<void> {
    const stopped = [this.#server, ...this.#tunnelServers].map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const socket of [...this.#sockets, ...this.#handshaking.values()]) socket.destroy();
    await Promise.all(stopped);
    await Promise.all(this.#idle);
    this.#problems.flush();
  }

  collectMetrics(): MetricFamily[] {
    const c = this.counters;
    return [
      { name: "dtcp_control_connections", help: "Open DTCP control connections.", type: "gauge", samples: [{ value: this.#sockets.size }] },
      { name: "dtcp_control_unauthenticated_connections", help: "Open DTCP control connections not authenticated yet.", type: "gauge", samples: [{ value: this.#unauthenticated.size }] },
      {
        name: "dtcp_control_connections_cut_total",
        help: "DTCP control connections refused or closed by a limit, by reason.",
        type: "counter",
        samples: [
          { labels: { reason: "per-address" }, value: c.refusedPerAddress },
          { labels: { reason: "evicted" }, value: c.evicted },
          { labels: { reason: "unread-replies" }, value: c.unreadClosed },
          { labels: { reason: "linger" }, value: c.lingerDestroyed },
        ],
      },
    ];
  }

  /** What the listener cut short, for /metrics and tests. */
  get counters(): ControlServerCounters {
    return { refusedPerAddress: this.#unauthenticated.cut.perAddress, evicted: this.#unauthenticated.cut.evicted, ...this.#cut };
  }

  /** Forgets old refusal reports; called now and then. */
  sweep(): void {
    this.#unauthenticated.sweep();
  }

  #accept(socket: Socket, listener: Listener): void {
    const clientIpv4 = unmapIpv4(socket.remoteAddress ?? "");
    socket.on("error", (err) => this.log.debug(`control connection from ${clientIpv4}: ${err.message}`));
    if (!this.#unauthenticated.admit(clientIpv4, socket)) {
      socket.end(wire("-ERR too many connections from your address"), "latin1");
      this.#lingerThenDestroy(socket);
      return;
    }
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    let finish!: () => void;
    const finished = new Promise<void>((r) => (finish = r));
    this.#idle.add(finished);
    let drainTimer: NodeJS.Timeout | null = null;
    const connection = new ControlConnection(
      {
        clientIpv4,
        clientPort: socket.remotePort ?? 0,
        localIpv4: unmapIpv4(socket.localAddress ?? ""),
        attachPort: listener.attachPort,
        ...(listener.kind === "dtcp"
          ? {}
          : {
              takeStream: (rest: Buffer) => {
                if (drainTimer) clearTimeout(drainTimer);
                drainTimer = null;
                this.#sockets.delete(socket);
                socket.removeAllListeners("data");
                return listener.kind === "tls" ? handOverTls(socket as TLSSocket, rest) : handOverTcp(socket, rest);
              },
            }),
        write: (text) => {
          // The replies of one turn (a pipelined batch) leave in one segment, not one each.
          if (socket.writableCorked === 0) {
            socket.cork();
            process.nextTick(() => socket.uncork());
          }
          if (socket.write(text, "latin1")) return true;
          drainTimer ??= setTimeout(() => {
            this.#cut.unreadClosed++;
            this.log.warn(`closing the control connection from ${clientIpv4}: ${socket.writableLength} bytes of replies unread for ${this.options.timeouts.drainMs / 1000} s`);
            socket.destroy();
          }, this.options.timeouts.drainMs);
          return false;
        },
        pause: () => socket.pause(),
        resume: () => socket.resume(),
        end: () => {
          socket.end();
          this.#lingerThenDestroy(socket);
        },
      },
      this.broker,
      this.options.timeouts,
      this.log,
      {
        authenticated: () => this.#unauthenticated.release(socket),
        finished: () => {
          this.#idle.delete(finished);
          finish();
        },
      },
      this.#problems,
    );
    socket.on("drain", () => {
      if (drainTimer) clearTimeout(drainTimer);
      drainTimer = null;
      connection.drained();
    });
    socket.on("data", (chunk: Buffer) => connection.receive(chunk));
    socket.on("close", () => {
      if (drainTimer) clearTimeout(drainTimer);
      this.#sockets.delete(socket);
      this.#unauthenticated.release(socket);
      connection.disconnected();
    });
    connection.start();
  }

  /** A socket the server has ended is destroyed if its peer has not closed its side soon after. */
  #lingerThenDestroy(socket: Socket): void {
    const timer = setTimeout(() => {
      if (socket.destroyed) return;
      this.#cut.lingerDestroyed++;
      socket.destroy();
    }, this.options.timeouts.lingerMs);
    socket.once("close", () => clearTimeout(timer));
  }
}

function listenOn(server: Server, host: string, port: number, option: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => reject(new Error(`${option} ${host}:${port}: ${err.code === "EADDRINUSE" ? "the address is in use" : err.message}`, { cause: err })));
    server.listen({ host, port, backlog: 4096 }, () => resolve(server.address() as AddressInfo));
  });
}

/** Every byte Node has read from the socket and not handed out yet. */
function unread(socket: Socket, rest: Buffer): Buffer {
  const chunks = [rest];
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * A plain TCP data connection goes to the data plane as it is: a second fd for the socket, then
 * Node's own is closed (the connection lives on in the other), with what Node had read already.
 */
function handOverTcp(socket: Socket, rest: Buffer): { fd: number; input: Uint8Array } {
  socket.pause();
  const input = unread(socket, rest);
  const fd = duplicateFd((socket as unknown as { _handle: { fd: number } })._handle.fd);
  socket.destroy();
  return { fd, input };
}

/**
 * A TLS data connection stays with Node, which decrypts it: its plaintext goes through a socket
 * pair, whose other end the data plane reads like a TCP connection. Each direction is piped, so
 * what waits is bounded by the pipes' high-water marks and the pair's socket buffers; either side
 * closing closes the other.
 */
function handOverTls(tls: TLSSocket, rest: Buffer): { fd: number; input: Uint8Array } {
  tls.pause();
  const input = unread(tls, rest);
  const [ours, theirs] = socketPair();
  const plain = new Socket({ fd: ours, readable: true, writable: true });
  const close = () => {
    tls.destroy();
    plain.destroy();
  };
  plain.on("error", close);
  tls.on("error", close);
  plain.on("close", close);
  tls.on("close", close);
  tls.pipe(plain);
  plain.pipe(tls);
  return { fd: theirs, input };
}
