import { Socket } from "node:net";
import type { TrafficCounters, Transport, TunnelType } from "../domain/types.ts";

/** Everything the data plane needs to carry one session's packets. */
export interface TunnelSpec {
  sessionId: number;
  userName: string;
  type: TunnelType;
  transport: Transport;
  /** The client's IPv4 as the control connection shows it. */
  clientIpv4: string;
  serverIpv4: string;
  /**
   * The local IPv4 the client's control connection reached: its tunnel packets leave from it (a
   * client drops packets from any other address), whatever source the routing table would pick.
   */
  localIpv4: string;
  /** UDP: the port the client asked to be reached on; null = NAT traversal (learn it from the client's packets). */
  clientUdpPort: number | null;
  serverUdpPort: number | null;
  clientIpv6: string | null;
  serverIpv6: string | null;
  /** Routed prefix of a network tunnel, CIDR. */
  prefix: string | null;
  mtu: number;
}

/** Why the data plane dropped a packet of a session. */
export type DropReason =
  /** Decapsulated packet whose inner IPv6 source is not the session's (BCP 38). */
  | "spoofedSource"
  /** Outer IPv4 source is not the session's client. */
  | "wrongOuterSource"
  /** Not an IPv6 packet, or truncated. */
  | "malformed"
  /** NAT traversal: traffic for the client before it sent its first packet. */
  | "noBinding"
  /** The kernel refused to send or the queue was full. */
  | "sendFailed";

/** Live figures of one session, read by the control plane at least every second. */
export interface TunnelStats extends TrafficCounters {
  drops: Record<DropReason, bigint>;
  /** Epoch ms of the last packet from the client, null before the first. */
  lastPacketAt: number | null;
  /** Where the server sends this session's packets: the NAT binding for UDP, the client IPv4 for protocol 41. */
  binding: { address: string; port: number | null } | null;
}

/** A TCP session's data connection, handed from the control plane to the data plane. */
export interface StreamHandover {
  /** A connected stream socket (TCP, or the plaintext end of a TLS connection's socket pair); whoever takes it closes it. */
  fd: number;
  /** Bytes already read from the client after `attach` (framed packets). */
  input: Uint8Array;
  /** Bytes to send before any packet (the `+OK attached` line). */
  output: Uint8Array;
  /** The client's end of the connection: the session's binding. */
  peerIpv4: string;
  peerPort: number;
}

/**
 * The packet side of the broker. The control plane calls open() once a login is accepted and
 * close() the moment the session ends; routes exist exactly between the two.
 */
export interface DataPlane {
  /** Shown at start-up, e.g. "none (--no-dataplane)". */
  readonly description: string;
  start(): Promise<void>;
  open(spec: TunnelSpec): Promise<void>;
  /** Every pool's CIDR now: each is routed to the data plane, pools added or removed while it runs included. */
  setPools(cidrs: readonly string[]): Promise<void>;
  /** A TCP session's data connection: its packets flow from now on. Takes the fd (closed on failure too). */
  attachStream(sessionId: number, stream: StreamHandover): Promise<void>;
  /** Whom to tell when a TCP session's data connection ends, fails or stalls: that session must end. */
  onLost(listener: (sessionId: number, reason: string) => void): void;
  /** Tears the tunnel down and returns its final counters; an unknown id (never opened) gives null. */
  close(sessionId: number): Promise<TrafficCounters | null>;
  /** The latest figures of a live session (at most a second old), null when unknown. */
  stats(sessionId: number): TunnelStats | null;
  stop(): Promise<void>;
}

/** Runs the control plane alone: replies stay complete, no packet is carried. */
export class NoDataPlane implements DataPlane {
  readonly description: string = "none (--no-dataplane): DTCP replies are complete but no packets are carried";
  /** TCP sessions' data connections, held open (their packets discarded) until the session or the client ends. */
  readonly #streams = new Map<number, Socket>();
  #lost: (sessionId: number, reason: string) => void = () => {};
  async start(): Promise<void> {}
  async open(): Promise<void> {}
  async setPools(_cidrs: readonly string[]): Promise<void> {}
  async attachStream(sessionId: number, stream: StreamHandover): Promise<void> {
    const socket = new Socket({ fd: stream.fd, readable: true, writable: true });
    this.#streams.set(sessionId, socket);
    socket.on("error", () => {});
    socket.on("close", () => {
      if (this.#streams.get(sessionId) !== socket) return;
      this.#streams.delete(sessionId);
      this.#lost(sessionId, "the client closed the tunnel connection");
    });
    socket.write(stream.output);
    socket.resume();
  }
  onLost(listener: (sessionId: number, reason: string) => void): void {
    this.#lost = listener;
  }
  async close(sessionId: number): Promise<TrafficCounters | null> {
    const socket = this.#streams.get(sessionId);
    this.#streams.delete(sessionId);
    socket?.destroy();
    return null;
  }
  stats(_sessionId: number): TunnelStats | null {
    return null;
  }
  async stop(): Promise<void> {
    for (const socket of this.#streams.values()) socket.destroy();
    this.#streams.clear();
  }
}
