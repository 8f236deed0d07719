// The packet engine: routes TUN packets to sessions and accepted client packets to the TUN.
// Pure logic over batches; the I/O objects are injected (the addon's channels in the worker,
// recording fakes in tests). Per batch: no allocation and one send or write per session.
// A send may be deferred (SEND_DEFERRED: the worker's poller makes it after the handler returns);
// its result then comes through settle(), in the order the sends were made.

import { judge, KEEPALIVE } from "./acceptance.ts";
import {
  BYTES_IN,
  BYTES_OUT,
  DROP_MALFORMED,
  DROP_NO_BINDING,
  DROP_SEND_FAILED,
  KEEPALIVES,
  LAST_PACKET_AT,
  MALFORMED_UNCHARGED,
  MULTICAST,
  NO_ROUTE,
  PACKETS_IN,
  PACKETS_OUT,
  SESSION_FIELDS,
  BLOCK_COUNTERS,
  BLOCK_SESSIONS,
  TOTAL_FIELDS,
  transportBlock,
  UDP_DIVERTED,
  UNKNOWN_SOURCE,
} from "./counters.ts";
import { DESTINATION_OFFSET, isIpv6Packet, SOURCE_OFFSET } from "./packet.ts";
import { SEND_DEFERRED, SHARED_CUT } from "./native.ts";
import { RouteTable } from "./route-table.ts";
import { BATCH_CAPACITY, TunnelSession, type ClientSocket } from "./session.ts";
import type { TunnelSpec } from "./types.ts";

/** Writes packets to the TUN (the addon's TunDevice). Each sender returns how many packets the kernel took, or SEND_DEFERRED. */
export interface TunWriter {
  writeBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
}

/** Sends IPv6 packets inside protocol 41 (the addon's RawSocket41), from the local address source. */
export interface Raw41Sender {
  sendBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, addrs: Uint32Array, count: number, source: number): number;
}

export interface ForwarderOptions {
  strictOuterSource: boolean;
  /** Clock for lastPacketAt, read once per batch. */
  now?: () => number;
}

const EMPTY_DATAGRAM = new Uint8Array(1);
const ZERO_OFFSETS = new Uint32Array(1);

/** One changed session in a report: its id, then its SESSION_FIELDS counters. */
export const REPORT_RECORD = 1 + SESSION_FIELDS;

export class Forwarder {
  readonly #tun: TunWriter;
  readonly #raw41: Raw41Sender;
  readonly #strict: boolean;
  readonly #now: () => number;
  readonly #routes = new RouteTable();
  readonly #sessions = new Map<number, TunnelSession>();
  readonly #bySlot: (TunnelSession | undefined)[] = [];
  readonly #freeSlots: number[] = [];
  /** UDP sessions by server port: where a shared socket's datagrams go. */
  readonly #byPort = new Map<number, TunnelSession>();
  /** Protocol-41 sessions by client IPv4, oldest first. */
  readonly #proto41ByClient = new Map<number, TunnelSession[]>();
  /** Sessions with packets queued in the current batch. */
  readonly #touched: TunnelSession[] = [];
  #touchedCount = 0;
  /** Daemon-wide figures of ended sessions plus the uncharged counters (layout: TOTAL_FIELDS). */
  readonly #totals = new Float64Array(TOTAL_FIELDS);
  /** Counters as last reported, per session id, to report only what changed. */
  readonly #reported = new Map<number, Float64Array>();
  /** Deferred sends awaiting settle(): session, direction and packets, in the order made. */
  readonly #deferred: TunnelSession[] = [];
  readonly #deferredToClient: boolean[] = [];
  readonly #deferredPackets: number[] = [];
  #deferredCount = 0;

  constructor(io: { tun: TunWriter; raw41: Raw41Sender }, opts: ForwarderOptions) {
    this.#tun = io.tun;
    this.#raw41 = io.raw41;
    this.#strict = opts.strictOuterSource;
    this.#now = opts.now ?? Date.now;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Adds a session and its routes. attach() runs once the session is known to fit (id and routes
   * free) and before anything is changed; it returns the UDP socket, and if it throws nothing is added.
   */
  open(spec: TunnelSpec, attach: (s: TunnelSession) => ClientSocket | null): TunnelSession {
    if (this.#sessions.has(spec.sessionId)) throw new Error(`session ${spec.sessionId} is already open`);
    const reuse = this.#freeSlots.length > 0;
    const slot = reuse ? this.#freeSlots[this.#freeSlots.length - 1]! : this.#bySlot.length;
    const s = new TunnelSession(spec, slot);
    for (const p of s.owned) {
      const holder = this.#routes.get(p);
      if (holder >= 0) throw new Error(`session ${spec.sessionId}: its addresses are routed to session ${this.#bySlot[holder]!.id}`);
    }
    s.socket = attach(s);
    if (reuse) this.#freeSlots.pop();
    this.#bySlot[slot] = s;
    this.#sessions.set(s.id, s);
    for (const p of s.owned) this.#routes.add(p, slot);
    if (spec.transport === "udp") this.#byPort.set(spec.serverUdpPort!, s);
    if (spec.transport === "proto41") {
      const list = this.#proto41ByClient.get(s.clientIpv4);
      if (list) list.push(s);
      else this.#proto41ByClient.set(s.clientIpv4, [s]);
    }
    return s;
  }

  /** The open session of that id, if any. */
  session(sessionId: number): TunnelSession | undefined {
    return this.#sessions.get(sessionId);
  }

  /**
   * A TCP session's data connection attached, from peer addr:port: its packets flow from now on.
   * The connection's address passed the outer-source check when it attached.
   */
  attachStream(s: TunnelSession, socket: ClientSocket, addr: number, port: number): void {
    s.socket = socket;
    s.bind(addr, port);
  }

  /** Removes a session and its routes at once; returns its final counters, or null if unknown. */
  close(sessionId: number): Float64Array | null {
    const s = this.#sessions.get(sessionId);
    if (!s) return null;
    for (const p of s.owned) this.#routes.remove(p);
    this.#sessions.delete(sessionId);
    this.#reported.delete(sessionId);
    this.#bySlot[s.slot] = undefined;
    this.#freeSlots.push(s.slot);
    if (this.#byPort.get(s.spec.serverUdpPort!) === s) this.#byPort.delete(s.spec.serverUdpPort!);
    if (s.spec.transport === "proto41") {
      const list = this.#proto41ByClient.get(s.clientIpv4)!.filter((x) => x !== s);
      if (list.length > 0) this.#proto41ByClient.set(s.clientIpv4, list);
      else this.#proto41ByClient.delete(s.clientIpv4);
    }
    const block = transportBlock(s.spec.transport) + BLOCK_COUNTERS;
    for (let f = PACKETS_IN; f <= DROP_SEND_FAILED; f++) this.#totals[block + f]! += s.counters[f]!;
    return Float64Array.from(s.counters);
  }

  /**
   * Packets read from the TUN: route each to its session and send per session. `oversized`
   * counts packets the addon dropped for not fitting its receive slot (the same in each handler).
   */
  onTunPackets(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, oversized = 0): void {
    this.#totals[MALFORMED_UNCHARGED]! += oversized;
    for (let i = 0; i < count; i++) {
      const off = offsets[i]!;
      const len = lengths[i]!;
      if (!isIpv6Packet(buf, off, len)) {
        this.#totals[MALFORMED_UNCHARGED]!++;
        continue;
      }
      if (buf[off + DESTINATION_OFFSET] === 0xff) {
        this.#totals[MULTICAST]!++;
        continue;
      }
      const slot = this.#routes.lookup(buf, off + DESTINATION_OFFSET);
      if (slot < 0) {
        this.#totals[NO_ROUTE]!++;
        continue;
      }
      const s = this.#bySlot[slot]!;
      if (!s.hasBinding) {
        s.counters[DROP_NO_BINDING]!++;
        continue;
      }
      this.#queue(s, buf, off, len, true);
    }
    this.#flush(buf, true);
  }

  /** Datagrams that arrived on a UDP session's socket. */
  onDatagrams(
    s: TunnelSession,
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    addrs: Uint32Array,
    ports: Uint16Array,
    count: number,
    oversized = 0,
  ): void {
    // The socket is the session's; the cut datagrams' sources are unknown, so no outer-source check.
    s.counters[DROP_MALFORMED]! += oversized;
    const now = this.#now();
    for (let i = 0; i < count; i++) this.#datagram(s, buf, offsets[i]!, lengths[i]!, addrs[i]!, ports[i]!, now);
    this.#flush(buf, false);
  }

  /**
   * Datagrams of many UDP sessions, diverted by the firewall to one socket: each goes to the
   * session of the address and port it was sent to, as if it had arrived on that session's socket
   * (one too big for its slot, length SHARED_CUT, as that session's malformed). A datagram for no
   * session's port is counted as unknownSource; one the addon dropped (no destination) as
   * uncharged malformed.
   */
  onSharedDatagrams(
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    addrs: Uint32Array,
    ports: Uint16Array,
    dsts: Uint32Array,
    dports: Uint16Array,
    count: number,
    oversized = 0,
  ): void {
    this.#totals[MALFORMED_UNCHARGED]! += oversized;
    this.#totals[UDP_DIVERTED]! += count + oversized;
    const now = this.#now();
    for (let i = 0; i < count; i++) {
      const s = this.#byPort.get(dports[i]!);
      // A session's own socket is bound to the address its client reached: so is this.
      if (s === undefined || s.localIpv4 !== dsts[i]) {
        this.#totals[UNKNOWN_SOURCE]!++;
        continue;
      }
      const len = lengths[i]!;
      if (len === SHARED_CUT) s.counters[DROP_MALFORMED]!++;
      else this.#datagram(s, buf, offsets[i]!, len, addrs[i]!, ports[i]!, now);
    }
    this.#flush(buf, false);
  }

  /** One datagram of a UDP session from addr:port: judged, and queued for the TUN or answered as a keepalive. */
  #datagram(s: TunnelSession, buf: Uint8Array, off: number, len: number, addr: number, port: number, now: number): void {
    const verdict = judge(s, this.#strict, addr, s.sources.classify(buf, off, len));
    if (verdict >= 0) {
      s.counters[verdict]!++;
      return;
    }
    s.counters[LAST_PACKET_AT] = now;
    if (s.natTraversal) s.bind(addr, port);
    if (verdict === KEEPALIVE) {
      this.#totals[KEEPALIVES]!++;
      this.#answerKeepalive(s, now);
    } else this.#queue(s, buf, off, len, false);
  }

  /**
   * A UDP keepalive is answered with one (at most one a second per session), so that a client
   * learns that packets come back through its NAT and firewall before any traffic flows (dtcpc
   * --transport auto decides so). It goes to the binding the keepalive just set: no reflection
   * to a third party, and no amplification.
   */
  #answerKeepalive(s: TunnelSession, now: number): void {
    if (s.socket === null || now - s.keepaliveAnsweredAt < 1000) return;
    s.keepaliveAnsweredAt = now;
    s.socket.sendBatch(EMPTY_DATAGRAM, ZERO_OFFSETS, ZERO_OFFSETS, s.addrs, s.ports, 1);
  }

  /**
   * Packets from a TCP session's data connection: judged as the session's (the connection's
   * address is its outer source; an empty frame is a keepalive), never moving its binding.
   */
  onStreamPackets(s: TunnelSession, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, oversized = 0): void {
    s.counters[DROP_MALFORMED]! += oversized;
    const now = this.#now();
    const addr = s.bindingAddress;
    for (let i = 0; i < count; i++) {
      const off = offsets[i]!;
      const len = lengths[i]!;
      const verdict = judge(s, this.#strict, addr, s.sources.classify(buf, off, len));
      if (verdict >= 0) {
        s.counters[verdict]!++;
        continue;
      }
      s.counters[LAST_PACKET_AT] = now;
      if (verdict === KEEPALIVE) this.#totals[KEEPALIVES]!++;
      else this.#queue(s, buf, off, len, false);
    }
    this.#flush(buf, false);
  }

  /**
   * Protocol-41 packets from the shared raw socket. The session is the protocol-41 session that
   * owns the inner source; failing that, the oldest protocol-41 session of the outer source
   * (which then judges a link-local or foreign source); failing both, nobody's.
   */
  onRaw41Packets(
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    addrs: Uint32Array,
    count: number,
    oversized = 0,
  ): void {
    // The shared socket's cut packets cannot be matched to a session.
    this.#totals[MALFORMED_UNCHARGED]! += oversized;
    const now = this.#now();
    for (let i = 0; i < count; i++) {
      const off = offsets[i]!;
      const len = lengths[i]!;
      const addr = addrs[i]!;
      const valid = isIpv6Packet(buf, off, len);
      let s: TunnelSession | undefined;
      if (valid) {
        const slot = this.#routes.lookup(buf, off + SOURCE_OFFSET);
        const owner = slot >= 0 ? this.#bySlot[slot] : undefined;
        if (owner?.proto41) s = owner;
      }
      s ??= this.#proto41ByClient.get(addr)?.[0];
      if (!s) {
        this.#totals[valid ? UNKNOWN_SOURCE : MALFORMED_UNCHARGED]!++;
        continue;
      }
      const verdict = judge(s, this.#strict, addr, s.sources.classify(buf, off, len));
      if (verdict >= 0) {
        s.counters[verdict]!++;
        continue;
      }
      s.counters[LAST_PACKET_AT] = now;
      s.bind(addr, -1);
      this.#queue(s, buf, off, len, false);
    }
    this.#flush(buf, false);
  }

  /** Counters of sessions changed since the last report, and the daemon-wide totals. */
  report(): { sessions: Float64Array; totals: Float64Array } {
    const totals = Float64Array.from(this.#totals);
    const changed: TunnelSession[] = [];
    for (const s of this.#sessions.values()) {
      const block = transportBlock(s.spec.transport);
      totals[block + BLOCK_SESSIONS]!++;
      for (let f = PACKETS_IN; f <= DROP_SEND_FAILED; f++) totals[block + BLOCK_COUNTERS + f]! += s.counters[f]!;
      const last = this.#reported.get(s.id);
      if (!last || !sameCounters(last, s.counters)) changed.push(s);
    }
    const sessions = new Float64Array(changed.length * REPORT_RECORD);
    changed.forEach((s, k) => {
      sessions[k * REPORT_RECORD] = s.id;
      sessions.set(s.counters, k * REPORT_RECORD + 1);
      this.#reported.set(s.id, Float64Array.from(s.counters));
    });
    return { sessions, totals };
  }

  /** Adds a packet to its session's share of the batch (toward the client, or toward the TUN). */
  #queue(s: TunnelSession, buf: Uint8Array, off: number, len: number, toClient: boolean): void {
    if (!s.queued) {
      s.queued = true;
      this.#touched[this.#touchedCount++] = s;
    } else if (s.pending === BATCH_CAPACITY) {
      this.#deliver(s, buf, toClient);
    }
    s.offsets[s.pending] = off;
    s.lengths[s.pending] = len;
    s.pending++;
  }

  #flush(buf: Uint8Array, toClient: boolean): void {
    for (let k = 0; k < this.#touchedCount; k++) {
      const s = this.#touched[k]!;
      this.#deliver(s, buf, toClient);
      s.queued = false;
    }
    this.#touchedCount = 0;
  }

  /** Results of the deferred sends since the last call, in the order they were made (see SendsSettled). */
  settle(count: number, sent: Uint32Array, bytes: Float64Array): void {
    if (count !== this.#deferredCount) throw new Error(`settle: ${count} results for ${this.#deferredCount} deferred sends`);
    for (let k = 0; k < count; k++) {
      this.#account(this.#deferred[k]!, this.#deferredToClient[k]!, this.#deferredPackets[k]!, sent[k]!, bytes[k]!);
    }
    this.#deferredCount = 0;
  }

  /** One send (or TUN write) for a session's queued packets; the kernel's refusals are dropped, not retried. */
  #deliver(s: TunnelSession, buf: Uint8Array, toClient: boolean): void {
    const n = s.pending;
    if (n === 0) return;
    s.pending = 0;
    let sent: number;
    if (!toClient) sent = this.#tun.writeBatch(buf, s.offsets, s.lengths, n);
    else if (s.proto41) sent = this.#raw41.sendBatch(buf, s.offsets, s.lengths, s.addrs, n, s.localIpv4);
    else sent = s.socket ? s.socket.sendBatch(buf, s.offsets, s.lengths, s.addrs, s.ports, n) : 0;
    if (sent === SEND_DEFERRED) {
      const k = this.#deferredCount++;
      this.#deferred[k] = s;
      this.#deferredToClient[k] = toClient;
      this.#deferredPackets[k] = n;
      return;
    }
    // A short count almost always means a full queue, which drops the tail: charge the bytes of the head.
    let bytes = 0;
    for (let k = 0; k < sent; k++) bytes += s.lengths[k]!;
    this.#account(s, toClient, n, sent, bytes);
  }

  #account(s: TunnelSession, toClient: boolean, packets: number, sent: number, bytes: number): void {
    s.counters[toClient ? PACKETS_OUT : PACKETS_IN]! += sent;
    s.counters[toClient ? BYTES_OUT : BYTES_IN]! += bytes;
    s.counters[DROP_SEND_FAILED]! += packets - sent;
  }
}

function sameCounters(a: Float64Array, b: Float64Array): boolean {
  for (let i = 0; i < SESSION_FIELDS; i++) if (a[i] !== b[i]) return false;
  return true;
}
