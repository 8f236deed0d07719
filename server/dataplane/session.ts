// A session as the packet worker sees it: what it accepts, where its packets go, its counters
// and its share of the current batch.

import { SourceFilter } from "./acceptance.ts";
import { BINDING_ADDRESS, BINDING_PORT, newSessionCounters } from "./counters.ts";
import { ipv4ToUint32 } from "./native.ts";
import { addressPrefix, cidrPrefix, type WordPrefix } from "./packet.ts";
import type { TunnelSpec } from "./types.ts";

/** The addon reads at most this many packets per wakeup, so a session never queues more per batch. */
export const BATCH_CAPACITY = 64;

/**
 * The session's own socket toward its client: a UDP socket (the addon's UdpSocket) or, for IPv6
 * over TCP, its data connection (StreamChannel, which ignores the addresses: they are the connection's).
 */
export interface ClientSocket {
  sendBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, addrs: Uint32Array, ports: Uint16Array, count: number): number;
}

export class TunnelSession {
  readonly id: number;
  readonly spec: TunnelSpec;
  /** Index in the worker's session array; the value its routes map to. */
  readonly slot: number;
  readonly clientIpv4: number;
  /** Where the client's control connection arrived (spec.localIpv4): the source of its protocol-41 packets. */
  readonly localIpv4: number;
  /** UDP without clientUdpPort: the binding is learnt from the client's datagrams. */
  readonly natTraversal: boolean;
  /** spec.transport === "proto41", decided once: the spec's strings came through postMessage uninterned, so comparing them costs. */
  readonly proto41: boolean;
  /** clientIpv6/128 and the delegated prefix, as present: routes and owned inner sources alike. */
  readonly owned: readonly WordPrefix[];
  readonly sources: SourceFilter;
  readonly counters = newSessionCounters();
  /** UDP and TCP sessions: their own socket; null for protocol 41, before a TCP session's data connection attaches, or once it failed. */
  socket: ClientSocket | null = null;

  // This batch's packets of this session, sent or written together when the batch ends. The
  // destination arrays hold the binding in every element so that a send needs no per-packet fill.
  readonly offsets = new Uint32Array(BATCH_CAPACITY);
  readonly lengths = new Uint32Array(BATCH_CAPACITY);
  readonly addrs = new Uint32Array(BATCH_CAPACITY);
  readonly ports = new Uint16Array(BATCH_CAPACITY);
  pending = 0;
  queued = false;
  /** When the last UDP keepalive was answered (epoch ms). */
  keepaliveAnsweredAt = -Infinity;

  constructor(spec: TunnelSpec, slot: number) {
    if (spec.transport === "udp" && spec.serverUdpPort === null) throw new Error(`session ${spec.sessionId}: UDP without a server port`);
    this.id = spec.sessionId;
    this.spec = spec;
    this.slot = slot;
    this.clientIpv4 = ipv4ToUint32(spec.clientIpv4);
    this.localIpv4 = ipv4ToUint32(spec.localIpv4);
    this.natTraversal = spec.transport === "udp" && spec.clientUdpPort === null;
    this.proto41 = spec.transport === "proto41";
    const owned: WordPrefix[] = [];
    if (spec.clientIpv6 !== null) owned.push(addressPrefix(spec.clientIpv6));
    if (spec.prefix !== null) owned.push(cidrPrefix(spec.prefix));
    this.owned = owned;
    this.sources = new SourceFilter(owned);
    if (spec.transport === "proto41") this.bind(this.clientIpv4, -1);
    else if (spec.transport === "udp" && spec.clientUdpPort !== null) this.bind(this.clientIpv4, spec.clientUdpPort);
  }

  get bindingAddress(): number {
    return this.counters[BINDING_ADDRESS]!;
  }

  get hasBinding(): boolean {
    return this.counters[BINDING_ADDRESS]! >= 0;
  }

  /** Sends the client's packets to addr (and port, for UDP and TCP) from now on. */
  bind(addr: number, port: number): void {
    const c = this.counters;
    if (c[BINDING_ADDRESS] === addr && c[BINDING_PORT] === port) return;
    c[BINDING_ADDRESS] = addr;
    c[BINDING_PORT] = port;
    this.addrs.fill(addr);
    if (port >= 0) this.ports.fill(port);
  }
}
