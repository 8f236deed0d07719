// Admission limits for the daemon's HTTP listeners (the live-session API, /metrics): every
// connection counts from its TCP connect until the caller says it is admitted (a viewer) or it
// closes, per address (an IPv6 peer's /64) and in all, as the DTCP port counts unauthenticated connections; and a TLS
// handshake or a request's headers get a few seconds. Silent peers and half-done handshakes cost a
// bounded number of descriptors, whoever sends them.
import type { Server, ServerOptions } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { AdmissionLimits } from "../control/admission.ts";
import { CountedConnections } from "../control/counted-connections.ts";
import { peerNetwork } from "./peer-network.ts";

/** Options for http(s).createServer: headers and whole request within `ms`, checked every second. */
export function boundedHttpOptions(ms: number): ServerOptions & { handshakeTimeout: number } {
  return { headersTimeout: ms, requestTimeout: ms, keepAliveTimeout: Math.min(5_000, ms), connectionsCheckingInterval: Math.min(1_000, ms), handshakeTimeout: ms };
}

export interface ConnectionLimits {
  /** Connections not yet admitted. */
  readonly pending: number;
  /** Refused because their address held its share, and closed to make room. */
  readonly cut: { perAddress: number; evicted: number };
  /** The connection (a TLS socket, or the raw one) is what it came for: it no longer counts. */
  admitted(socket: Duplex): void;
}

/** Counts `server`'s connections against `limits`; `name` says which listener in log lines. */
export function limitConnections(server: Server, limits: AdmissionLimits, name: string, warn: (message: string) => void): ConnectionLimits {
  const pending = new CountedConnections<Socket>(limits, {
    refused: (address) => warn(`${name}: refusing connections from ${address}: ${limits.maxUnauthenticatedPerAddress} already waiting on their handshake or request (said once a minute)`),
    evicting: () => warn(`${name}: ${limits.maxUnauthenticated} connections waiting; closing the oldest of the busiest address to make room (said once a minute)`),
  });
  // The TLS socket a request arrives on is not the raw one admitted; they share the peer's address and port.
  const byPeer = new Map<string, Socket>();
  const peerKey = (socket: { remoteAddress?: string; remotePort?: number }) => `${socket.remoteAddress}:${socket.remotePort}`;
  const sweeper = setInterval(() => pending.sweep(), 60_000).unref();
  server.once("close", () => clearInterval(sweeper));
  server.on("connection", (raw: Socket) => {
    raw.on("error", () => {});
    if (!pending.admit(peerNetwork(raw.remoteAddress ?? ""), raw)) return void raw.destroy();
    const key = peerKey(raw);
    byPeer.set(key, raw);
    raw.once("close", () => {
      if (byPeer.get(key) === raw) byPeer.delete(key);
      pending.release(raw);
    });
  });
  server.on("tlsClientError", (_err: Error, socket: Duplex) => socket.destroy());
  return {
    get pending() {
      return pending.size;
    },
    cut: pending.cut,
    admitted(socket) {
      const key = peerKey(socket as Socket);
      const raw = byPeer.get(key);
      if (raw === undefined) return;
      byPeer.delete(key);
      pending.release(raw);
    },
  };
}
