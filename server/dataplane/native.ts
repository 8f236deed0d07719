// Typed wrapper over the packet I/O addon (native/dataplane, built by node-gyp into build/Release).
//
// Every channel hands up to 64 packets to ONE JS call; while batches come back full it reads up to
// 8 of them per wakeup, one call each. A channel is polled by the event loop, or, given a Poller,
// only inside that poller's wait() (a dedicated packet thread's own loop: see Poller). The Buffer and
// arrays handed to a callback are shared by all channels and reused by the next call: read (or
// copy) what you need before the callback returns, and never transfer them.
// Packet i is buf.subarray(offsets[i], offsets[i] + lengths[i]).
// Receive slots hold 2 KB (more in a thread whose TUN has an MTU above 1984): a packet that does
// not fit is dropped, never passed on cut, and counted in the callback's last argument,
// `oversized` (a call may then carry count 0).
// IPv4 addresses are unsigned 32-bit numbers in host order (127.0.0.1 = 0x7f000001).

import { createRequire } from "node:module";
import { isIPv4 } from "node:net";

/** Packets read from a TUN device: one IPv6 or IPv4 packet each. */
export type PacketBatchHandler = (
  buf: Buffer,
  offsets: Uint32Array,
  lengths: Uint32Array,
  count: number,
  oversized: number,
) => void;

/** UDP payloads (possibly empty) with each datagram's IPv4 source address and port. */
export type DatagramBatchHandler = (
  buf: Buffer,
  offsets: Uint32Array,
  lengths: Uint32Array,
  addrs: Uint32Array,
  ports: Uint16Array,
  count: number,
  oversized: number,
) => void;

/** Protocol-41 payloads (the inner IPv6 packet, outer IPv4 header stripped) with the outer source. */
export type Raw41BatchHandler = (
  buf: Buffer,
  offsets: Uint32Array,
  lengths: Uint32Array,
  addrs: Uint32Array,
  count: number,
  oversized: number,
) => void;

/** A fatal read error (errno-style `code`, `syscall`); the channel is already closed when called. */
export type ChannelErrorHandler = (err: NodeJS.ErrnoException) => void;

type Handle = object;

interface Addon {
  tunOpen(
    name: string,
    mtu: number,
    txQueueLen: number,
    onBatch: PacketBatchHandler,
    onError: ChannelErrorHandler,
    pollerIndex: number,
    offload: boolean,
    multiQueue: boolean,
    attach: boolean,
  ): [Handle, string, boolean];
  tunOffloadStats(h: Handle): [number, number, number, number, number];
  tunSteer(h: Handle, maxEntries: number): number;
  tunSteerUpdate(mapFd: number, address: Uint8Array, length: number, queue: number, add: boolean): void;
  tunWrite(h: Handle, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  tunPersist(h: Handle, on: boolean): void;
  udpOpen(
    addr: number,
    port: number,
    onBatch: DatagramBatchHandler,
    onError: ChannelErrorHandler,
    pollerIndex: number,
    offload: boolean,
    shared: boolean,
    coalesce: boolean,
  ): Handle;
  udpSegments(h: Handle): boolean;
  udpSegmentProbe(): boolean;
  udpCoalesced(h: Handle): [number, number];
  udpCoalesceProbe(): boolean;
  udpSend(
    h: Handle,
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    addrs: Uint32Array,
    ports: Uint16Array,
    count: number,
  ): number;
  raw41Open(addr: number, onBatch: Raw41BatchHandler, onError: ChannelErrorHandler, pollerIndex: number, worker: number, workers: number): Handle;
  raw41Send(
    h: Handle,
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    addrs: Uint32Array,
    count: number,
    source: number,
  ): number;
  localAddress(h: Handle): [number, number];
  streamOpen(fd: number, what: string, input: Uint8Array, output: Uint8Array, maxFrame: number, onBatch: PacketBatchHandler, onError: ChannelErrorHandler, pollerIndex: number): Handle;
  streamSend(h: Handle, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  streamBacklog(h: Handle): [number, number];
  dupFd(fd: number): number;
  closeFd(fd: number): void;
  socketPair(): [number, number];
  icmp6Send(ifname: string, packet: Uint8Array): void;
  close(h: Handle): void;
  /** With together, the packets of several sessions go out in one call; true when UDP ones can too (a raw UDP socket opened). */
  pollerOpen(together: boolean): boolean;
  pollerNext(timeoutMs: number): number | [number, NodeJS.ErrnoException];
  pollerClose(): void;
  batch(): [Buffer, Uint32Array, Uint32Array, Uint32Array, Uint16Array, Uint32Array, Float64Array, Uint32Array, Uint16Array];
  outbox(): [Uint32Array, Uint32Array, Uint32Array, Uint16Array, Int32Array, Uint32Array];
}

const ADDON_PATH = "../../build/Release/dtcp_dataplane.node";
let loaded: Addon | undefined;

// Loaded on first use, so that importing the types never needs the compiled addon.
function addon(): Addon {
  if (!loaded) {
    try {
      loaded = createRequire(import.meta.url)(ADDON_PATH) as Addon;
    } catch (err) {
      throw new Error(
        `cannot load the dataplane addon (${ADDON_PATH}); build it with \`npm install\` at the repository root`,
        { cause: err },
      );
    }
  }
  return loaded;
}

// Without a handler a fatal read error becomes an uncaught exception rather than silence.
const rethrow: ChannelErrorHandler = (err) => {
  throw err;
};

/** Converts dotted-quad IPv4 text to a host-order number. */
export function ipv4ToUint32(address: string): number {
  if (!isIPv4(address)) throw new TypeError(`not an IPv4 address: ${address}`);
  return address.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
}

/** Converts a host-order number to dotted-quad IPv4 text. */
export function uint32ToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** The arrays a poller's batches arrive in (the same for every channel of the thread). */
interface SharedBatch {
  buf: Buffer;
  offsets: Uint32Array;
  lengths: Uint32Array;
  addrs: Uint32Array;
  ports: Uint16Array;
  /** A shared UDP socket's datagrams: where each was sent (host order), before the firewall diverted it. */
  dsts: Uint32Array;
  dports: Uint16Array;
}

/** A channel as its poller knows it. */
interface PollerEntry {
  deliver(batch: SharedBatch, count: number, oversized: number): void;
  onError: ChannelErrorHandler;
}

// Slots of the addon's poller state array.
const STATE_COUNT = 0;
const STATE_OVERSIZED = 1;
const STATE_GENERATION = 2;
const STATE_SEGMENTS = 3;
const STATE_SETTLED = 4;

/** What a channel's send returns when the packets were queued on its poller (see Poller.deferSends). */
export const SEND_DEFERRED = -1;
/** What Poller.queue returns when it could not queue: the caller sends at once. */
const NOT_QUEUED = -2;
/** Packets and sends the outbox holds: one batch's worth. */
const OUTBOX_CAPACITY = 64;
/** Fields of a send in the outbox's segments: [channel index, start, count, source address]. */
const SEGMENT_FIELDS = 4;

/**
 * Results of deferred sends, in the order they were queued: the i-th (i < count) had sent[i]
 * packets taken by the kernel (the head of what was queued; the rest were dropped), of bytes[i]
 * bytes in all. The arrays are reused: read them during the call.
 */
export type SendsSettled = (count: number, sent: Uint32Array, bytes: Float64Array) => void;

/**
 * The wait of a thread that does nothing but forward packets (one poller per thread). Channels
 * opened with a poller are read only inside wait(), which asks the addon for one batch after
 * another (it blocks in epoll while none is ready) and hands each to its channel's handler,
 * without going back to the event loop in between and without a call from C into JS: what the
 * loop and such a call cost per wakeup (a callback scope and microtask checkpoint, timer upkeep,
 * a second epoll call for the loop's idle-time metrics) is most of the work at an ordinary packet
 * rate. wait() returns as soon as the thread's event loop has something to do (a message from
 * another thread, say) or its timeout passes, so the thread calls it again from setImmediate.
 * Timers of the thread run only between waits: keep the timeouts short or do timed work between
 * waits. Handlers must not call wait().
 */
export class Poller {
  readonly #addon = addon();
  readonly #entries: (PollerEntry | undefined)[] = [];
  readonly #freeIndexes: number[] = [];
  readonly #state: Uint32Array;
  readonly #clock: Float64Array;
  #batch!: SharedBatch;
  #generation = -1;
  // The outbox: packets of the current batch queued for sending, per send a segment (see
  // SEGMENT_FIELDS); the addon sends them at the next pollerNext.
  readonly #out: { offsets: Uint32Array; lengths: Uint32Array; addrs: Uint32Array; ports: Uint16Array; segments: Int32Array; sent: Uint32Array };
  readonly #bytes = new Float64Array(OUTBOX_CAPACITY);
  #queued = 0;
  #segments = 0;
  #onSettled: SendsSettled | null = null;

  /** Opens the thread's poller; fails if the thread has one open. */
  /** The UDP datagrams of several sessions go out in one system call (send-many.c); false without CAP_NET_RAW or with sendTogether off. */
  readonly sendsUdpTogether: boolean;

  /** sendTogether (default true): the packets of several sessions go out in one system call where they can. */
  constructor(options: { sendTogether?: boolean } = {}) {
    this.sendsUdpTogether = this.#addon.pollerOpen(options.sendTogether ?? true);
    [, , , , , this.#state, this.#clock] = this.#addon.batch();
    const [offsets, lengths, addrs, ports, segments, sent] = this.#addon.outbox();
    this.#out = { offsets, lengths, addrs, ports, segments, sent };
    this.#refresh();
  }

  /**
   * From now on a send on one of this poller's channels of packets of the batch being handled
   * (its buffer is the batch's) is queued instead of made at once: it returns SEND_DEFERRED, the
   * addon makes it as the handler returns (before it reads or waits again: no added delay), and
   * onSettled gets the result before the next batch is handled, and at the latest before wait()
   * returns. One crossing from JS into C per batch fewer.
   */
  deferSends(onSettled: SendsSettled): void {
    this.#onSettled = onSettled;
  }

  /**
   * @internal Queues a send for the channel at index; returns SEND_DEFERRED, or NOT_QUEUED when it
   * cannot (sends not deferred, another buffer, the outbox full): the caller then sends at once.
   */
  queue(index: number, buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, addrs: Uint32Array | null, ports: Uint16Array | null, source: number, count: number): number {
    const start = this.#queued;
    if (!this.#onSettled || buf !== this.#batch.buf || this.#segments === OUTBOX_CAPACITY || start + count > OUTBOX_CAPACITY) return NOT_QUEUED;
    const out = this.#out;
    for (let i = 0; i < count; i++) {
      out.offsets[start + i] = offsets[i]!;
      out.lengths[start + i] = lengths[i]!;
    }
    if (addrs) for (let i = 0; i < count; i++) out.addrs[start + i] = addrs[i]!;
    if (ports) for (let i = 0; i < count; i++) out.ports[start + i] = ports[i]!;
    const k = this.#segments++ * SEGMENT_FIELDS;
    out.segments[k] = index;
    out.segments[k + 1] = start;
    out.segments[k + 2] = count;
    out.segments[k + 3] = source;
    this.#queued = start + count;
    this.#state[STATE_SEGMENTS] = this.#segments;
    return SEND_DEFERRED;
  }

  // The addon made the queued sends: their results to the listener, and an empty outbox.
  #settle(): void {
    const state = this.#state;
    const count = state[STATE_SETTLED]!;
    state[STATE_SETTLED] = 0;
    this.#queued = 0;
    this.#segments = 0;
    const { lengths, segments, sent } = this.#out;
    for (let k = 0; k < count; k++) {
      const start = segments[k * SEGMENT_FIELDS + 1]!;
      let bytes = 0;
      for (let i = start, end = start + sent[k]!; i < end; i++) bytes += lengths[i]!;
      this.#bytes[k] = bytes;
    }
    this.#onSettled!(count, sent, this.#bytes);
  }

  /** Wall-clock time (ms, as Date.now()) of the last wakeup: a batch's arrival time, cheaper to read than the clock. */
  get now(): number {
    return this.#clock[0]!;
  }

  // The addon replaces the buffer when a TUN with a larger MTU opens.
  #refresh(): void {
    const [buf, offsets, lengths, addrs, ports, , , dsts, dports] = this.#addon.batch();
    this.#batch = { buf, offsets, lengths, addrs, ports, dsts, dports };
    this.#generation = this.#state[STATE_GENERATION]!;
  }

  /** @internal A channel's index: what the addon names its batches by. */
  attach(entry: PollerEntry): number {
    const index = this.#freeIndexes.pop() ?? this.#entries.length;
    this.#entries[index] = entry;
    return index;
  }

  /** @internal Forgets a closed channel (if index still names it). */
  detach(index: number, entry: PollerEntry): void {
    if (this.#entries[index] !== entry) return;
    this.#entries[index] = undefined;
    this.#freeIndexes.push(index);
  }

  /** Delivers packets until the event loop has work or timeoutMs (≥ 0) have passed; a handler's throw ends it and propagates. */
  wait(timeoutMs: number): void {
    const a = this.#addon;
    const state = this.#state;
    let next = a.pollerNext(Math.max(0, Math.min(Math.ceil(timeoutMs), 0x7fffffff)) || 0);
    for (;;) {
      if (state[STATE_SETTLED] !== 0) this.#settle();
      if (next === -1) break;
      if (typeof next === "number") {
        if (state[STATE_GENERATION] !== this.#generation) this.#refresh();
        this.#entries[next]!.deliver(this.#batch, state[STATE_COUNT]!, state[STATE_OVERSIZED]!);
      } else {
        // The addon closed the channel.
        const [index, err] = next;
        const entry = this.#entries[index];
        if (entry) {
          this.detach(index, entry);
          entry.onError(err);
        }
      }
      next = a.pollerNext(-1);
    }
  }

  /** Closes the epoll set. Close its channels first: they are never read again. Idempotent. */
  close(): void {
    this.#addon.pollerClose();
  }
}

/** Registers a channel with its poller around its opening; closing detaches it. */
class PollerSlot {
  readonly index: number;
  readonly #poller: Poller | undefined;
  readonly #entry: PollerEntry;
  #released = false;

  constructor(poller: Poller | undefined, entry: PollerEntry) {
    this.#poller = poller;
    this.#entry = entry;
    this.index = poller ? poller.attach(entry) : -1;
  }

  release(): void {
    this.#released = true;
    this.#poller?.detach(this.index, this.#entry);
  }

  /** Queues a send on the poller if it defers sends; see Poller.queue. Never once closed: the index may name another channel by then. */
  queue(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, addrs: Uint32Array | null, ports: Uint16Array | null, source: number, count: number): number {
    return this.#poller && !this.#released ? this.#poller.queue(this.index, buf, offsets, lengths, addrs, ports, source, count) : NOT_QUEUED;
  }

  /** Runs open(index); releases the slot if it throws. */
  open<T>(open: (index: number) => T): T {
    try {
      return open(this.index);
    } catch (err) {
      this.release();
      throw err;
    }
  }
}

/** Options of a TUN device. */
export interface TunOptions {
  /** Interface name (at most 15 bytes); a pattern such as "dtcp%d" lets the kernel pick. */
  name: string;
  /** Link MTU in bytes. */
  mtu: number;
  /** Transmit queue length; the default 500 overflows near 130k packets/s. */
  txQueueLen?: number;
  /**
   * Default true: the kernel hands over and takes TCP/IPv6 super-packets of up to 64 KB, split
   * into segments on reading and joined on writing (offload.c), when a probe with a real
   * super-packet passes. `offloads` says whether it did.
   */
  offload?: boolean;
  /**
   * "first": the device gets one queue per packet worker (IFF_MULTI_QUEUE), this being the first;
   * "attach": a further queue of that device, with the offloads the first queue got (`offload`
   * must say which). Default: a device with one queue.
   */
  queue?: "first" | "attach";
  onPackets: PacketBatchHandler;
  onError?: ChannelErrorHandler;
  /** Read inside this poller's wait() instead of by the event loop. */
  poller?: Poller;
}

/** A TUN device (IFF_TUN | IFF_NO_PI), created or attached, configured and brought up. */
export class TunDevice {
  /** The interface name the kernel assigned. */
  readonly name: string;
  /** Whether super-packets pass through the device (TunOptions.offload and the kernel's say). */
  readonly offloads: boolean;
  readonly #handle: Handle;
  // Held, not looked up per write: the write is on the packet path.
  readonly #addon = addon();
  readonly #slot: PollerSlot;

  /** Opens the device; fails with a message naming CAP_NET_ADMIN when not permitted. */
  constructor(opts: TunOptions) {
    const { onPackets } = opts;
    const onError = opts.onError ?? rethrow;
    this.#slot = new PollerSlot(opts.poller, {
      deliver: (b, count, oversized) => onPackets(b.buf, b.offsets, b.lengths, count, oversized),
      onError,
    });
    [this.#handle, this.name, this.offloads] = this.#slot.open((index) =>
      this.#addon.tunOpen(
        opts.name,
        opts.mtu,
        opts.txQueueLen ?? 4096,
        onPackets,
        onError,
        index,
        opts.offload ?? true,
        opts.queue !== undefined,
        opts.queue === "attach",
      ),
    );
  }

  /**
   * Makes the queue of each packet a function of its destination (a multi-queue device only):
   * the prefixes of the returned map, else queue 0. Fails naming CAP_BPF where bpf() is refused.
   */
  steer(maxPrefixes: number): TunSteering {
    return new TunSteering(this.#addon.tunSteer(this.#handle, maxPrefixes));
  }

  /** Super-packets read and the segments split from them; super-packets written and the segments joined into them; reads dropped for a header the splitter does not take. */
  offloadStats(): { superIn: number; segmentsIn: number; superOut: number; joinedOut: number; refused: number } {
    const [superIn, segmentsIn, superOut, joinedOut, refused] = this.#addon.tunOffloadStats(this.#handle);
    return { superIn, segmentsIn, superOut, joinedOut, refused };
  }

  /**
   * Hands packets to the kernel, one write() each; returns how many it accepted (the rest are
   * dropped), or SEND_DEFERRED (see Poller.deferSends).
   */
  writeBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    const queued = this.#slot.queue(buf, offsets, lengths, null, null, 0, count);
    return queued === SEND_DEFERRED ? queued : this.#addon.tunWrite(this.#handle, buf, offsets, lengths, count);
  }

  /** Whether the device is persistent: it stays, with its addresses and routes, when the fd closes. */
  persist(on: boolean): void {
    this.#addon.tunPersist(this.#handle, on);
  }

  /** Stops reading and closes the fd; a non-persistent device disappears. Idempotent. */
  close(): void {
    this.#addon.close(this.#handle);
    this.#slot.release();
  }
}

/** The prefixes that choose a multi-queue TUN's queue (steer.c): the longest match wins. */
export class TunSteering {
  readonly #fd: number;
  readonly #addon = addon();
  readonly #bytes = new Uint8Array(16);

  /** Takes the map's fd (closed by close()). */
  constructor(fd: number) {
    this.#fd = fd;
  }

  /** The map's fd: another thread takes its own copy (duplicateFd). */
  get fd(): number {
    return this.#fd;
  }

  /** Packets to this prefix go to queue; fails with EEXIST when the prefix has a queue already. */
  add(prefix: { words: readonly number[]; length: number }, queue: number): void {
    this.#addon.tunSteerUpdate(this.#fd, this.#fill(prefix.words), prefix.length, queue, true);
  }

  remove(prefix: { words: readonly number[]; length: number }): void {
    this.#addon.tunSteerUpdate(this.#fd, this.#fill(prefix.words), prefix.length, 0, false);
  }

  close(): void {
    this.#addon.closeFd(this.#fd);
  }

  #fill(words: readonly number[]): Uint8Array {
    const b = this.#bytes;
    for (let i = 0; i < 4; i++) {
      const w = words[i]!;
      b[4 * i] = w >>> 24;
      b[4 * i + 1] = (w >>> 16) & 0xff;
      b[4 * i + 2] = (w >>> 8) & 0xff;
      b[4 * i + 3] = w & 0xff;
    }
    return b;
  }
}

/**
 * The packet worker (of `workers`) whose protocol-41 socket receives a client's packets: a hash
 * of its IPv4 address (host order), the same as the socket's filter (steer.c raw41_spread).
 */
export function raw41Worker(ipv4: number, workers: number): number {
  return (((ipv4 >>> 16) ^ ipv4) & 0xffff) % workers;
}

/** Whether the kernel sends segmented UDP right (UDP_SEGMENT: one real send over loopback, once per process). */
export function udpSegmentationWorks(): boolean {
  return addon().udpSegmentProbe();
}

/** What the log says once about segmented UDP sends: on, refused by the kernel, or turned off. */
export function udpOffloadMessage(requested: boolean): string {
  if (!requested) return "UDP: one datagram per message (--no-offload)";
  return udpSegmentationWorks()
    ? "UDP: runs of datagrams to one peer go to the kernel as one segmented send (UDP_SEGMENT)"
    : "UDP: the kernel refused a segmented send (UDP_SEGMENT), so one datagram per message";
}

/** What dtcpc's log says about its socket's receive offload. */
export function udpCoalesceMessage(requested: boolean): string {
  if (!requested) return "UDP: one datagram per read (--no-offload)";
  return udpCoalescingWorks()
    ? "UDP: runs of the server's datagrams come in as one read (UDP_GRO)"
    : "UDP: the kernel did not coalesce a segmented send (UDP_GRO), so one datagram per read";
}

/** What the daemon's log says once about the shared sockets' receive offload. */
export function udpReceiveOffloadMessage(requested: boolean): string {
  if (!requested) return "UDP: the shared sockets read one datagram per message (--no-offload)";
  return udpCoalescingWorks()
    ? "UDP: the shared sockets take a run of one peer's datagrams in one read (UDP_GRO)"
    : "UDP: the kernel did not coalesce a segmented send (UDP_GRO), so the shared sockets read one datagram per message";
}

/** What the log says once about a TUN's offloads: on, refused by the kernel, or turned off. */
export function tunOffloadMessage(requested: boolean, tun: TunDevice): string {
  if (!requested) return `TUN ${tun.name}: one packet per read and write (--no-offload)`;
  return tun.offloads
    ? `TUN ${tun.name}: offloads on, TCP super-packets of up to 64 KB split on reading and joined on writing (--no-offload turns them off)`
    : `TUN ${tun.name}: the kernel refused a super-packet (TSO6 with checksum offload), so one packet per read and write`;
}

/** Options of a UDP/IPv4 socket. */
export interface UdpSocketOptions {
  /** Local IPv4 address; default 0.0.0.0. */
  address?: string;
  /** Local port; 0 picks a free one. */
  port: number;
  onDatagrams: DatagramBatchHandler;
  onError?: ChannelErrorHandler;
  /** Read inside this poller's wait() instead of by the event loop. */
  poller?: Poller;
  /** Default true: runs of datagrams to one peer go out as one segmented send (UDP_SEGMENT) where the kernel does it right. */
  offload?: boolean;
  /**
   * With offload: runs of one peer's datagrams come in as one read (UDP_GRO) where the kernel does
   * it right, split back into the datagrams sent. Costs 4 MB of receive area (touched only as far
   * as reads reach): for a socket that carries bulk, not one per session. Default false.
   */
  coalesce?: boolean;
}

/** A bound UDP/IPv4 socket with 4 MB buffers, read with recvmmsg and written with sendmmsg. */
export class UdpSocket {
  /** The bound local address. */
  readonly address: string;
  /** The bound local port. */
  readonly port: number;
  readonly #handle: Handle;
  readonly #addon = addon();
  readonly #slot: PollerSlot;

  /** Binds the socket. */
  constructor(opts: UdpSocketOptions) {
    const a = this.#addon;
    const { onDatagrams } = opts;
    const onError = opts.onError ?? rethrow;
    const address = ipv4ToUint32(opts.address ?? "0.0.0.0");
    this.#slot = new PollerSlot(opts.poller, {
      deliver: (b, count, oversized) => onDatagrams(b.buf, b.offsets, b.lengths, b.addrs, b.ports, count, oversized),
      onError,
    });
    this.#handle = this.#slot.open((index) => a.udpOpen(address, opts.port, onDatagrams, onError, index, opts.offload ?? true, false, opts.coalesce ?? false));
    const [addr, port] = a.localAddress(this.#handle);
    this.address = uint32ToIpv4(addr);
    this.port = port;
  }

  /** Whether runs of datagrams to one peer go out as one segmented send (UDP_SEGMENT); false after the kernel refused one. */
  get segments(): boolean {
    return this.#addon.udpSegments(this.#handle);
  }

  /** Reads that carried several datagrams (UDP_GRO, with coalesce), and how many datagrams they carried. */
  coalesced(): { reads: number; datagrams: number } {
    const [reads, datagrams] = this.#addon.udpCoalesced(this.#handle);
    return { reads, datagrams };
  }

  /**
   * Sends datagram i to addrs[i]:ports[i]; returns how many were sent (drops the rest when the
   * queue is full), or SEND_DEFERRED (see Poller.deferSends).
   */
  sendBatch(
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    addrs: Uint32Array,
    ports: Uint16Array,
    count: number,
  ): number {
    const queued = this.#slot.queue(buf, offsets, lengths, addrs, ports, 0, count);
    return queued === SEND_DEFERRED ? queued : this.#addon.udpSend(this.#handle, buf, offsets, lengths, addrs, ports, count);
  }

  /** Stops reading and closes the socket. Idempotent. */
  close(): void {
    this.#addon.close(this.#handle);
    this.#slot.release();
  }
}

/** A shared UDP socket's datagram that did not fit its slot has this length (its data is not there). */
export const SHARED_CUT = 0xffffffff;

/** Datagrams of a shared UDP socket: as DatagramBatchHandler, plus where each was sent (dsts in host order, dports). */
export type SharedDatagramBatchHandler = (
  buf: Uint8Array,
  offsets: Uint32Array,
  lengths: Uint32Array,
  addrs: Uint32Array,
  ports: Uint16Array,
  dsts: Uint32Array,
  dports: Uint16Array,
  count: number,
  oversized: number,
) => void;

/**
 * A UDP socket that receives the datagrams the firewall diverts to it (nftables `tproxy`), each
 * with the address and port it was sent to: the datagrams of many sessions' ports, many per
 * system call. It only receives (IP_TRANSPARENT needs CAP_NET_ADMIN), and only inside a poller.
 */
export class SharedUdpSocket {
  readonly address: string;
  /** The bound port (the kernel's choice when asked for 0): where the firewall sends the datagrams. */
  readonly port: number;
  readonly #handle: Handle;
  readonly #addon = addon();
  readonly #slot: PollerSlot;

  /**
   * offload (default true): coalesced datagrams (UDP_GRO) where a probe shows the kernel hands
   * them over right, split back into the datagrams that were sent (udp-gro.c).
   */
  constructor(opts: { address: string; port?: number; offload?: boolean; onDatagrams: SharedDatagramBatchHandler; onError?: ChannelErrorHandler; poller: Poller }) {
    const a = this.#addon;
    const { onDatagrams } = opts;
    const onError = opts.onError ?? rethrow;
    this.#slot = new PollerSlot(opts.poller, {
      deliver: (b, count, oversized) => onDatagrams(b.buf, b.offsets, b.lengths, b.addrs, b.ports, b.dsts, b.dports, count, oversized),
      onError,
    });
    const never = (): void => {
      throw new Error("a shared UDP socket is read by its poller");
    };
    this.#handle = this.#slot.open((index) => a.udpOpen(ipv4ToUint32(opts.address), opts.port ?? 0, never, onError, index, opts.offload ?? true, true, false));
    const [addr, port] = a.localAddress(this.#handle);
    this.address = uint32ToIpv4(addr);
    this.port = port;
  }

  /** Reads that carried several datagrams (UDP_GRO), and how many datagrams they carried. */
  coalesced(): { reads: number; datagrams: number } {
    const [reads, datagrams] = this.#addon.udpCoalesced(this.#handle);
    return { reads, datagrams };
  }

  close(): void {
    this.#addon.close(this.#handle);
    this.#slot.release();
  }
}

/** Whether the kernel hands over coalesced UDP right (UDP_GRO: one segmented send over loopback, once per process). */
export function udpCoalescingWorks(): boolean {
  return addon().udpCoalesceProbe();
}

/** Options of a raw protocol-41 socket. */
export interface RawSocket41Options {
  /** Local IPv4 address: fixes the outer source and accepts only packets sent to it. Default: any. */
  address?: string;
  /** With several packet workers: this socket receives only the clients whose address hashes to `worker` (raw41Worker). */
  spread?: { worker: number; workers: number };
  onPackets: Raw41BatchHandler;
  onError?: ChannelErrorHandler;
  /** Read inside this poller's wait() instead of by the event loop. */
  poller?: Poller;
}

/** A raw IPv4 socket for IP protocol 41 (6in4): the kernel adds and strips the outer IPv4 header. */
export class RawSocket41 {
  readonly #handle: Handle;
  readonly #addon = addon();
  readonly #slot: PollerSlot;

  /** Opens the socket; fails with a message naming CAP_NET_RAW when not permitted. */
  constructor(opts: RawSocket41Options) {
    const addr = opts.address === undefined ? 0 : ipv4ToUint32(opts.address);
    const { onPackets } = opts;
    const onError = opts.onError ?? rethrow;
    this.#slot = new PollerSlot(opts.poller, {
      deliver: (b, count, oversized) => onPackets(b.buf, b.offsets, b.lengths, b.addrs, count, oversized),
      onError,
    });
    const { worker, workers } = opts.spread ?? { worker: 0, workers: 1 };
    this.#handle = this.#slot.open((index) => this.#addon.raw41Open(addr, onPackets, onError, index, worker, workers));
  }

  /**
   * Sends packet i (an IPv6 packet) inside IPv4 to addrs[i], from the local address source (as a
   * number; 0: whichever the route gives, or the bound address); returns how many were sent, or
   * SEND_DEFERRED (see Poller.deferSends).
   */
  sendBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, addrs: Uint32Array, count: number, source = 0): number {
    const queued = this.#slot.queue(buf, offsets, lengths, addrs, null, source, count);
    return queued === SEND_DEFERRED ? queued : this.#addon.raw41Send(this.#handle, buf, offsets, lengths, addrs, count, source);
  }

  /** Stops reading and closes the socket. Idempotent. */
  close(): void {
    this.#addon.close(this.#handle);
    this.#slot.release();
  }
}

/** Options of a stream channel. */
export interface StreamChannelOptions {
  /** A connected stream socket (TCP, or one end of socketPair()); the channel owns it from now on. */
  fd: number;
  /** Names it in error messages, e.g. "tcp 192.0.2.7:40000" (at most 39 bytes). */
  what: string;
  /** Bytes already read from the peer, handled before anything read later. */
  input?: Uint8Array;
  /** Bytes to send before any packet (a reply of the protocol that set the connection up). */
  output?: Uint8Array;
  /** The largest packet accepted from the peer; a frame announcing more ends the stream (EMSGSIZE). */
  maxPacket: number;
  onPackets: PacketBatchHandler;
  /** The stream failed or its peer closed it (code "EOF"); it is closed when called. */
  onError: ChannelErrorHandler;
  poller: Poller;
}

/**
 * IPv6 packets over a byte stream, each framed as a 2-byte big-endian length then the packet (as
 * OpenVPN's TCP mode frames them). Read by a poller in batches cut from 64 KB reads; sent with one
 * write per batch. What the peer does not read waits in a 256 KB buffer; past it packets are
 * dropped (sendBatch counts fewer), so a peer that stops reading costs that much and no more.
 */
export class StreamChannel {
  readonly #handle: Handle;
  readonly #addon = addon();
  readonly #slot: PollerSlot;

  constructor(opts: StreamChannelOptions) {
    const { onPackets, onError } = opts;
    this.#slot = new PollerSlot(opts.poller, {
      deliver: (b, count, oversized) => onPackets(b.buf, b.offsets, b.lengths, count, oversized),
      onError,
    });
    const empty = new Uint8Array(0);
    this.#handle = this.#slot.open((index) =>
      this.#addon.streamOpen(opts.fd, opts.what.slice(0, 39), opts.input ?? empty, opts.output ?? empty, opts.maxPacket, onPackets, onError, index),
    );
  }

  /** Frames and sends the packets (addresses and ports are the connection's: unused); returns how many were taken, or SEND_DEFERRED. */
  sendBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, _addrs: Uint32Array, _ports: Uint16Array, count: number): number {
    const queued = this.#slot.queue(buf, offsets, lengths, null, null, 0, count);
    return queued === SEND_DEFERRED ? queued : this.#addon.streamSend(this.#handle, buf, offsets, lengths, count);
  }

  /** Bytes waiting for the peer to read them, and for how long (ms) none of them has gone. */
  backlog(): { bytes: number; stalledMs: number } {
    const [bytes, stalledMs] = this.#addon.streamBacklog(this.#handle);
    return { bytes, stalledMs };
  }

  /** Stops reading and closes the socket. Idempotent. */
  close(): void {
    this.#addon.close(this.#handle);
    this.#slot.release();
  }
}

/** A second fd for an open file (a socket Node holds, to hand it to a channel before Node closes its own). */
export function duplicateFd(fd: number): number {
  return addon().dupFd(fd);
}

/** A connected pair of AF_UNIX stream sockets: a TLS connection's plaintext goes through one to a channel on the other. */
export function socketPair(): [number, number] {
  return addon().socketPair();
}

/** Sends one ICMPv6 message to ff02::1 on an interface, hop limit 255 (the kernel adds the checksum): a router advertisement. */
export function sendIcmp6ToAllNodes(ifname: string, packet: Uint8Array): void {
  addon().icmp6Send(ifname, packet);
}
