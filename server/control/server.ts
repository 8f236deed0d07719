import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import type { Broker } from "../broker/broker.ts";
import type { Logger } from "../log.ts";
import { unmapIpv4 } from "../net/ipv4.ts";
import { wire } from "../protocol/replies.ts";
import type { AbuseGuard } from "./abuse.ts";
import { ControlConnection, type ControlTimeouts } from "./connection.ts";

export interface ControlServerOptions {
  host: string;
  port: number;
  timeouts: ControlTimeouts;
}

/** Reports what the abuse limits refused, for the audit log. */
export type LimitReporter = (action: string, source: string, detail: Record<string, unknown>) => void;

/** The DTCP listener (TCP 20200): one ControlConnection per client. */
export class ControlServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #idle = new Set<Promise<void>>();

  constructor(
    private readonly broker: Broker,
    private readonly guard: AbuseGuard,
    private readonly log: Logger,
    private readonly options: ControlServerOptions,
    private readonly reportLimit: LimitReporter,
  ) {
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

  /** Stops accepting and closes every connection (their sessions are ended by the broker first). */
  async close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await stopped;
    await Promise.all(this.#idle);
  }

  #accept(socket: Socket): void {
    const clientIpv4 = unmapIpv4(socket.remoteAddress ?? "");
    const admission = this.guard.admit(clientIpv4);
    if (!admission.admitted) {
      if (admission.report) {
        this.log.warn(`refusing connections from ${clientIpv4}: too many unauthenticated connections`);
        this.reportLimit("dtcp.limit.connections", clientIpv4, { limit: this.guard.limits.maxUnauthenticatedPerAddress });
      }
      socket.end(wire("-ERR too many connections from your address"), "latin1");
      socket.on("error", () => {});
      return;
    }
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    let counted = true;
    const uncount = () => {
      if (counted) this.guard.release(clientIpv4);
      counted = false;
    };
    let finish!: () => void;
    const finished = new Promise<void>((r) => (finish = r));
    this.#idle.add(finished);
    const connection = new ControlConnection(
      {
        clientIpv4,
        localIpv4: unmapIpv4(socket.localAddress ?? ""),
        write: (text) => socket.write(text, "latin1"),
        end: () => socket.end(),
      },
      this.broker,
      this.options.timeouts,
      this.log,
      {
        authenticated: uncount,
        finished: () => {
          this.#idle.delete(finished);
          finish();
        },
      },
    );
    socket.on("data", (chunk: Buffer) => connection.receive(chunk));
    socket.on("error", (err) => this.log.debug(`control connection from ${clientIpv4}: ${err.message}`));
    socket.on("close", () => {
      this.#sockets.delete(socket);
      uncount();
      connection.disconnected();
    });
    connection.start();
  }
}
