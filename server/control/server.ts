import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import type { Broker } from "../broker/broker.ts";
import type { Logger } from "../log.ts";
import type { MetricFamily, MetricsSource } from "../metrics/exposition.ts";
import { unmapIpv4 } from "../net/ipv4.ts";
import { wire } from "../protocol/replies.ts";
import { RefusalReports } from "./abuse.ts";
import { UnauthenticatedConnections, type AdmissionLimits } from "./admission.ts";
import { ControlConnection, type ControlTimeouts } from "./connection.ts";

export interface ControlServerOptions {
  host: string;
  port: number;
  timeouts: ControlTimeouts;
}

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

/** The DTCP listener (TCP 20200): one ControlConnection per client. */
export class ControlServer implements MetricsSource {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #idle = new Set<Promise<void>>();
  readonly #unauthenticated: UnauthenticatedConnections<Socket>;
  readonly #reports = new RefusalReports();
  readonly counters: ControlServerCounters = { refusedPerAddress: 0, evicted: 0, unreadClosed: 0, lingerDestroyed: 0 };

  constructor(
    private readonly broker: Broker,
    limits: AdmissionLimits,
    private readonly log: Logger,
    private readonly options: ControlServerOptions,
    private readonly reportLimit: LimitReporter,
  ) {
    this.#unauthenticated = new UnauthenticatedConnections(limits);
    this.#server = createServer((socket) => this.#accept(socket));
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen({ host: this.options.host, port: this.options.port, backlog: 4096 }, () => {
        this.#server.off("error", reject);
        resolve(this.#server.address() as AddressInfo);
      });
    });
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
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await stopped;
    await Promise.all(this.#idle);
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

  /** Forgets old refusal reports; called now and then. */
  sweep(): void {
    this.#reports.sweep();
  }

  #accept(socket: Socket): void {
    const clientIpv4 = unmapIpv4(socket.remoteAddress ?? "");
    socket.on("error", (err) => this.log.debug(`control connection from ${clientIpv4}: ${err.message}`));
    const admission = this.#unauthenticated.admit(clientIpv4, socket);
    if (!admission.admitted) {
      this.counters.refusedPerAddress++;
      if (this.#reports.due(clientIpv4)) {
        this.log.warn(`refusing connections from ${clientIpv4}: too many unauthenticated connections`);
        this.reportLimit("dtcp.limit.connections", clientIpv4, { limit: this.#unauthenticated.limits.maxUnauthenticatedPerAddress });
      }
      socket.end(wire("-ERR too many connections from your address"), "latin1");
      this.#lingerThenDestroy(socket);
      return;
    }
    if (admission.evicted) {
      this.counters.evicted++;
      if (this.#reports.due("\u0000evicted")) {
        this.log.warn(`${this.#unauthenticated.limits.maxUnauthenticated} unauthenticated connections: closing the oldest of the busiest addresses to make room`);
      }
      admission.evicted.destroy();
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
        localIpv4: unmapIpv4(socket.localAddress ?? ""),
        write: (text) => {
          // The replies of one turn (a pipelined batch) leave in one segment, not one each.
          if (socket.writableCorked === 0) {
            socket.cork();
            process.nextTick(() => socket.uncork());
          }
          if (socket.write(text, "latin1")) return true;
          drainTimer ??= setTimeout(() => {
            this.counters.unreadClosed++;
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
      this.counters.lingerDestroyed++;
      socket.destroy();
    }, this.options.timeouts.lingerMs);
    socket.once("close", () => clearTimeout(timer));
  }
}
