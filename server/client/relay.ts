import {
  ipv4ToUint32,
  RawSocket41,
  uint32ToIpv4,
  TunDevice,
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

export type RelayTransport = { kind: "udp"; bindPort: number } | { kind: "proto41" };

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
}

/**
 * The client's data plane: its TUN on one side, the server's IPv4 on the other, over UDP or IP
 * protocol 41. The socket is opened first (its port goes into the tunnel request) and accepts
 * nothing until start() names the server; then packets flow a batch per call with no allocation.
 */
export class Relay {
  readonly counters: RelayCounters = { toServer: 0, fromServer: 0, foreign: 0, failed: 0 };
  readonly #udp: UdpSocket | null = null;
  readonly #raw: RawSocket41 | null = null;
  readonly #onError: ChannelErrorHandler;
  #tun: TunDevice | null = null;
  #keepalive: NodeJS.Timeout | null = null;
  #server = -1; // outside the uint32 range: nothing matches before start()
  #serverPort = -1;
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
      this.#udp = new UdpSocket({ port: transport.bindPort, onDatagrams: this.#fromUdp, onError });
    } else {
      this.#raw = new RawSocket41({ onPackets: this.#fromRaw, onError });
    }
  }

  /** The bound UDP port; null for protocol 41. */
  get localPort(): number | null {
    return this.#udp?.port ?? null;
  }

  /** Creates the TUN (up, with its MTU) and starts relaying; returns the interface name. */
  start(tun: { name: string; mtu: number }, peer: RelayPeer): string {
    this.#server = ipv4ToUint32(peer.serverIpv4);
    this.#serverPort = peer.serverUdpPort ?? -1;
    this.#addrs.fill(this.#server);
    this.#ports.fill(Math.max(this.#serverPort, 0));
    this.#tun = new TunDevice({ name: tun.name, mtu: tun.mtu, onPackets: this.#fromTun, onError: this.#onError });
    if (peer.keepaliveMs !== null && this.#udp !== null) {
      // The server can reach us only after our first datagram, and only while the NAT remembers it.
      this.#sendKeepalive();
      this.#keepalive = setInterval(this.#sendKeepalive, peer.keepaliveMs);
    }
    return this.#tun.name;
  }

  /** Stops relaying and closes the TUN and the socket. Idempotent. */
  close(): void {
    if (this.#keepalive !== null) clearInterval(this.#keepalive);
    this.#keepalive = null;
    this.#tun?.close();
    this.#udp?.close();
    this.#raw?.close();
  }

  #grow(count: number): void {
    if (count <= this.#addrs.length) return;
    this.#addrs = new Uint32Array(count).fill(this.#server);
    this.#ports = new Uint16Array(count).fill(Math.max(this.#serverPort, 0));
    this.#inOffsets = new Uint32Array(count);
    this.#inLengths = new Uint32Array(count);
  }

  readonly #fromTun: PacketBatchHandler = (buf, offsets, lengths, count) => {
    this.#grow(count);
    const sent = this.#udp
      ? this.#udp.sendBatch(buf, offsets, lengths, this.#addrs, this.#ports, count)
      : this.#raw!.sendBatch(buf, offsets, lengths, this.#addrs, count);
    this.counters.toServer += sent;
    this.counters.failed += count - sent;
  };

  readonly #fromUdp: DatagramBatchHandler = (buf, offsets, lengths, addrs, ports, count) => {
    this.#grow(count);
    let n = 0;
    for (let i = 0; i < count; i++) {
      if (addrs[i] !== this.#server || ports[i] !== this.#serverPort) {
        this.#foreign(addrs[i]!, ports[i]!);
      } else if (lengths[i]! > 0) {
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
