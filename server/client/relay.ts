import { existsSync } from "node:fs";
import type { Socket } from "node:net";
import {
  ipv4ToUint32,
  RawSocket41,
  uint32ToIpv4,
  TunDevice,
  tunOffloadMessage,
  udpCoalesceMessage,
  udpOffloadMessage,
  UdpSocket,
  type ChannelErrorHandler,
  type DatagramBatchHandler,
  type PacketBatchHandler,
  type Raw41BatchHandler,
} from "../dataplane/native.ts";

/** The addon hands over at most 64 packets per callback; arrays grow if that ever changes. */
const BATCH = 64;
/** Dropped packets from elsewhere are reported at most this often, with how many since the last report. */
export const FOREIGN_REPORT_MS = 10_000;

/** Says why packets were dropped: where they came from, where they were expected from, how many since the last report. */
export type ForeignReporter = (source: string, expected: string, count: number) => void;

/** UDP and protocol 41 open their socket at once; a stream (IPv6 over TCP or TLS) gets its data connection at start(). */
export type RelayTransport = { kind: "udp"; bindPort: number; offload: boolean } | { kind: "proto41" } | { kind: "stream" };

/** Framed packets waiting for a server that reads slowly; past this, packets from the TUN are dropped. */
export const STREAM_PENDING_BYTES = 256 * 1024;

export interface RelayPeer {
  serverIpv4: string;
  /** UDP: the session's server port (the reply's udp=). */
  serverUdpPort: number | null;
  /** NAT traversal: the interval of the empty keepalive datagrams; null sends none. */
  keepaliveMs: number | null;
}

/** Packet counts, for the log at the end of a session. */
export interface RelayCounters {
  toServer: number;
  fromServer: number;
  /** From another source than the server, or (UDP) another port than the session's. */
  foreign: number;
  /** Refused by the kernel (queue full). */
  failed: number;
  /** From the server but longer than the TUN's MTU: no IPv6 host would send them, and the TUN would refuse them. */
  oversized: number;
  /** TUN offloads, read when the relay closes: super-packets read and the packets split from them; written and the packets joined into them. */
  superRead: number;
  splitPackets: number;
  superWritten: number;
  joinedPackets: number;
  /** UDP receive offload, read when the relay closes: reads that carried several datagrams, and those datagrams. */
  coalescedReads: number;
  coalescedDatagrams: number;
}

/**
 * The client's data plane: its TUN on one side, the server's IPv4 on the other, over UDP or IP
 * protocol 41. The socket is opened first (its port goes into the tunnel request) and accepts
 * nothing until start() names the server; then packets flow a batch per call with no allocation.
 * Over TCP (or TLS) each packet is framed by a 2-byte length on the data connection instead.
 */
export class Relay {
  /** Called once, when the first packet (or keepalive) from the server arrives: the way back works. */
  onHeard: (() => void) | null = null;
  #stream: Socket | null = null;
  /** The start of a frame from the server whose rest has not arrived. */
  #partial: Buffer = Buffer.alloc(0);
  readonly counters: RelayCounters = { toServer: 0, fromServer: 0, foreign: 0, failed: 0, oversized: 0, superRead: 0, splitPackets: 0, superWritten: 0, joinedPackets: 0, coalescedReads: 0, coalescedDatagrams: 0 };
  readonly #udp: UdpSocket | null = null;
  readonly #raw: RawSocket41 | null = null;
  readonly #onError: ChannelErrorHandler;
  #tun: TunDevice | null = null;
  #keepalive: NodeJS.Timeout | null = null;
  #server = -1; // outside the uint32 range: nothing matches before start()
  #serverPort = -1;
  #mtu = 0;
  // Destinations of a batch to the server (every entry is the server) and the accepted part of
  // a batch from it; reused for every batch.
  #addrs = new Uint32Array(BATCH);
  #ports = new Uint16Array(BATCH);
  #inOffsets = new Uint32Array(BATCH);
  #inLengths = new Uint32Array(BATCH);
  readonly #empty = { buf: Buffer.alloc(1), offsets: new Uint32Array(1), lengths: new Uint32Array(1) };

  readonly #onForeign: ForeignReporter;
  #foreignSince = 0;
  #foreignReportedAt = -Infinity;

  constructor(transport: RelayTransport, onError: ChannelErrorHandler, onForeign: ForeignReporter = () => {}, private readonly now: () => number = Date.now) {
    this.#onError = onError;
    this.#onForeign = onForeign;
    if (transport.kind === "udp") {
      // The one socket of the tunnel carries its bulk: runs from the server come in as one read.
      this.#udp = new UdpSocket({ port: transport.bindPort, offload: transport.offload, coalesce: true, onDatagrams: this.#fromUdp, onError });
    } else if (transport.kind === "proto41") {
      this.#raw = new RawSocket41({ onPackets: this.#fromRaw, onError });
    }
  }

  /** The bound UDP port; null for protocol 41. */
  get localPort(): number | null {
    return this.#udp?.port ?? null;
  }

  /**
   * Creates the TUN (up, with its MTU), or takes over one an earlier dtcpc left with -o, and starts
   * relaying (over `stream`, for IPv6 over TCP). `kept` says it was such a leftover, still carrying
   * that session's addresses and routes.
   */
  start(tun: { name: string; mtu: number; offload: boolean }, peer: RelayPeer, stream: Socket | null = null): { ifname: string; kept: boolean; offloads: string } {
    this.#server = ipv4ToUint32(peer.serverIpv4);
    this.#serverPort = peer.serverUdpPort ?? -1;
    this.#mtu = tun.mtu;
    this.#addrs.fill(this.#server);
    this.#ports.fill(Math.max(this.#serverPort, 0));
    // A name with %d is numbered by the kernel and never meets a leftover.
    const kept = !tun.name.includes("%") && existsSync(`/sys/class/net/${tun.name}`);
    this.#tun = new TunDevice({ name: tun.name, mtu: tun.mtu, offload: tun.offload, onPackets: this.#fromTun, onError: this.#onError });
    // Ordinary again: it goes when this process closes it, unless -o keeps it once more.
    if (kept) this.#tun.persist(false);
    if (stream) {
      this.#stream = stream;
      stream.on("data", this.#fromStream);
      stream.once("close", () => this.#onError(Object.assign(new Error("the server closed the tunnel connection"), { code: "EOF" })));
      stream.on("error", () => {});
      stream.resume();
    }
    if (peer.keepaliveMs !== null && this.#udp !== null) {
      // The server can reach us only after our first datagram, and only while the NAT remembers it.
      this.#sendKeepalive();
      this.#keepalive = setInterval(this.#sendKeepalive, peer.keepaliveMs);
    }
    const offloads = tunOffloadMessage(tun.offload, this.#tun) + (this.#udp ? `; ${udpOffloadMessage(tun.offload)}; ${udpCoalesceMessage(tun.offload)}` : "");
    return { ifname: this.#tun.name, kept, offloads };
  }

  /** The TUN outlives this process (dtcpc -o): it stays, configured, when its fd closes. */
  keepInterface(): void {
    this.#tun?.persist(true);
  }

  /** Stops relaying and closes the TUN and the socket. Idempotent. */
  close(): void {
    if (this.#keepalive !== null) clearInterval(this.#keepalive);
    this.#keepalive = null;
    if (this.#tun !== null && this.#tun.offloads) {
      const o = this.#tun.offloadStats();
      Object.assign(this.counters, { superRead: o.superIn, splitPackets: o.segmentsIn, superWritten: o.superOut, joinedPackets: o.joinedOut });
    }
    if (this.#udp !== null) {
      const { reads, datagrams } = this.#udp.coalesced();
      Object.assign(this.counters, { coalescedReads: reads, coalescedDatagrams: datagrams });
    }
    this.#tun?.close();
    this.#tun = null;
    this.#udp?.close();
    this.#raw?.close();
    this.#stream?.removeAllListeners("close");
    this.#stream?.destroy();
  }

  #grow(count: number): void {
    if (count <= this.#addrs.length) return;
    const size = Math.max(count, this.#addrs.length * 2);
    this.#addrs = new Uint32Array(size).fill(this.#server);
    this.#ports = new Uint16Array(size).fill(Math.max(this.#serverPort, 0));
    const [offsets, lengths] = [this.#inOffsets, this.#inLengths];
    this.#inOffsets = new Uint32Array(size);
    this.#inLengths = new Uint32Array(size);
    this.#inOffsets.set(offsets);
    this.#inLengths.set(lengths);
  }

  readonly #fromTun: PacketBatchHandler = (buf, offsets, lengths, count) => {
    this.#grow(count);
    if (this.#stream) return this.#toStream(buf, offsets, lengths, count);
    const sent = this.#udp
      ? this.#udp.sendBatch(buf, offsets, lengths, this.#addrs, this.#ports, count)
      : this.#raw!.sendBatch(buf, offsets, lengths, this.#addrs, count);
    this.counters.toServer += sent;
    this.counters.failed += count - sent;
  };

  /** One write of the batch's packets, each framed; dropped whole while the server reads too slowly. */
  #toStream(buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, count: number): void {
    const stream = this.#stream!;
    let total = 0;
    for (let i = 0; i < count; i++) total += 2 + lengths[i]!;
    if (stream.writableLength + total > STREAM_PENDING_BYTES) {
      this.counters.failed += count;
      return;
    }
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (let i = 0; i < count; i++) {
      const len = lengths[i]!;
      out.writeUInt16BE(len, at);
      buf.copy(out, at + 2, offsets[i]!, offsets[i]! + len);
      at += 2 + len;
    }
    stream.write(out);
    this.counters.toServer += count;
  }

  /** Whole frames to the TUN, an empty one (a keepalive) counted as heard; a cut frame waits for its rest. */
  readonly #fromStream = (chunk: Buffer): void => {
    const buf = this.#partial.length > 0 ? Buffer.concat([this.#partial, chunk]) : chunk;
    let at = 0;
    let n = 0;
    while (buf.length - at >= 2) {
      const len = buf.readUInt16BE(at);
      if (buf.length - at < 2 + len) break;
      this.#heard();
      if (len > this.#mtu) this.counters.oversized++;
      else if (len > 0) {
        this.#grow(n + 1);
        this.#inOffsets[n] = at + 2;
        this.#inLengths[n++] = len;
      }
      at += 2 + len;
    }
    // At most one frame (2 + 65535 bytes) waits: a copy, so that the chunk's memory goes.
    this.#partial = Buffer.from(buf.subarray(at));
    this.#toTun(buf, n);
  };

  #heard(): void {
    const heard = this.onHeard;
    this.onHeard = null;
    heard?.();
  }

  readonly #fromUdp: DatagramBatchHandler = (buf, offsets, lengths, addrs, ports, count) => {
    this.#grow(count);
    let n = 0;
    for (let i = 0; i < count; i++) {
      if (addrs[i] !== this.#server || ports[i] !== this.#serverPort) {
        this.#foreign(addrs[i]!, ports[i]!);
        continue;
      }
      this.#heard();
      if (lengths[i]! > this.#mtu) this.counters.oversized++;
      else if (lengths[i]! > 0) {
        this.#inOffsets[n] = offsets[i]!;
        this.#inLengths[n++] = lengths[i]!;
      }
    }
    this.#toTun(buf, n);
  };

  readonly #fromRaw: Raw41BatchHandler = (buf, offsets, lengths, addrs, count) => {
    this.#grow(count);
    let n = 0;
    for (let i = 0; i < count; i++) {
      if (addrs[i] !== this.#server) {
        this.#foreign(addrs[i]!, null);
      } else {
        this.#heard();
        if (lengths[i]! > this.#mtu) {
          this.counters.oversized++;
          continue;
        }
        this.#inOffsets[n] = offsets[i]!;
        this.#inLengths[n++] = lengths[i]!;
      }
    }
    this.#toTun(buf, n);
  };

  /** Counts a packet from elsewhere; the first of a while is reported with the count since the last report. */
  #foreign(addr: number, port: number | null): void {
    this.counters.foreign++;
    this.#foreignSince++;
    const now = this.now();
    if (now - this.#foreignReportedAt < FOREIGN_REPORT_MS) return;
    this.#foreignReportedAt = now;
    const server = uint32ToIpv4(this.#server >>> 0);
    if (port === null) this.#onForeign(uint32ToIpv4(addr), server, this.#foreignSince);
    else this.#onForeign(`${uint32ToIpv4(addr)}:${port}`, `${server}:${this.#serverPort}`, this.#foreignSince);
    this.#foreignSince = 0;
  }

  #toTun(buf: Buffer, n: number): void {
    if (n === 0 || this.#tun === null) return;
    const written = this.#tun.writeBatch(buf, this.#inOffsets, this.#inLengths, n);
    this.counters.fromServer += written;
    this.counters.failed += n - written;
  }

  readonly #sendKeepalive = (): void => {
    const { buf, offsets, lengths } = this.#empty;
    this.#udp?.sendBatch(buf, offsets, lengths, this.#addrs, this.#ports, 1);
  };
}
