// A packet worker: owns a TUN queue, a protocol-41 socket, one UDP socket per UDP session and the
// data connection of each TCP session, and runs the Forwarder over their batches, so that
// forwarding never stalls the DTCP control connections on the main thread (and a busy main thread
// never delays packets). With several workers each owns some of the sessions, and its TUN queue
// and protocol-41 socket receive only those sessions' packets (steer.c).
// The channels are read in the worker's own wait (Poller) rather than by its event loop; the loop
// runs between waits, whenever a message from the main thread arrives, and the counters are
// reported between waits too, at their interval.

import { closeSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import {
  TUN_SEGMENTS_READ,
  TUN_SEGMENTS_WRITTEN,
  TUN_SUPER_READ,
  TUN_SUPER_WRITTEN,
  UDP_COALESCED_DATAGRAMS,
  UDP_COALESCED_READS,
} from "./counters.ts";
import { Forwarder } from "./forwarder.ts";
import {
  duplicateFd,
  ipv4ToUint32,
  Poller,
  RawSocket41,
  SharedUdpSocket,
  StreamChannel,
  TunDevice,
  tunOffloadMessage,
  TunSteering,
  udpOffloadMessage,
  udpReceiveOffloadMessage,
  UdpSocket,
} from "./native.ts";
import type { TunnelSession } from "./session.ts";
import { errorInfo, PACKET_THREAD_NICE, type FromWorker, type ToWorker, type WorkerConfig } from "./worker-protocol.ts";

const config = workerData as WorkerConfig;
const port = parentPort!;
/** Steered prefixes: two per session (its address and its prefix), for this many sessions. */
const MAX_STEERED_PREFIXES = 2 * 131_072;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

function closeFd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Closed already (the channel took it before failing).
  }
}

interface Channels {
  tun: TunDevice;
  raw41: RawSocket41;
  /** With several workers: the map that sends each session's packets to its worker's TUN queue. */
  steering: TunSteering | null;
  /** The first worker of several, when the kernel refused steering: why it forwards alone. */
  alone: string | null;
  /** Where the firewall diverts this worker's UDP sessions' datagrams, or why nowhere. */
  shared: SharedUdpSocket | { error: string } | null;
}

function openChannels(poller: Poller): Channels | null {
  let tun: TunDevice | undefined;
  let steering: TunSteering | null = null;
  try {
    // Channel errors of the TUN and the raw socket are fatal: thrown, they end the worker and the
    // main thread reports it.
    tun = new TunDevice({
      name: config.tunName,
      mtu: config.mtu,
      txQueueLen: config.txQueueLen,
      offload: config.shared ? config.shared.offloads : config.offload,
      queue: config.workers === 1 ? undefined : config.worker === 0 ? "first" : "attach",
      onPackets: (buf, offsets, lengths, count, oversized) => forwarder.onTunPackets(buf, offsets, lengths, count, oversized),
      poller,
    });
    let workers = config.workers;
    let alone: string | null = null;
    if (config.shared) steering = new TunSteering(duplicateFd(config.shared.steeringFd));
    else if (workers > 1) {
      try {
        steering = tun.steer(MAX_STEERED_PREFIXES);
      } catch (err) {
        alone = (err as Error).message;
        workers = 1;
      }
    }
    const raw41 = new RawSocket41({
      spread: { worker: config.worker, workers },
      onPackets: (buf, offsets, lengths, addrs, count, oversized) =>
        forwarder.onRaw41Packets(buf, offsets, lengths, addrs, count, oversized),
      poller,
    });
    if (config.worker === 0) {
      post({ kind: "log", level: "info", message: tunOffloadMessage(config.offload, tun) });
      post({ kind: "log", level: "info", message: udpOffloadMessage(config.offload) });
      if (config.sharedUdp) post({ kind: "log", level: "info", message: udpReceiveOffloadMessage(config.offload) });
    }
    let shared: Channels["shared"] = null;
    if (config.sharedUdp) {
      try {
        shared = new SharedUdpSocket({
          address: "127.0.0.1",
          offload: config.offload,
          onDatagrams: (buf, offsets, lengths, addrs, ports, dsts, dports, count, oversized) =>
            forwarder.onSharedDatagrams(buf, offsets, lengths, addrs, ports, dsts, dports, count, oversized),
          poller,
        });
      } catch (err) {
        shared = { error: (err as Error).message };
      }
    }
    return { tun, raw41, steering, alone, shared };
  } catch (err) {
    steering?.close();
    tun?.close();
    poller.close();
    post({ kind: "startFailed", error: errorInfo(err) });
    port.close();
    return null;
  }
}

try {
  // On Linux a nice value set for pid 0 is the calling thread's alone.
  setPriority(0, PACKET_THREAD_NICE);
} catch {
  if (config.worker === 0) post({ kind: "log", level: "info", message: `packet threads at normal priority: nice ${PACKET_THREAD_NICE} needs CAP_SYS_NICE or LimitNICE` });
}
const poller = new Poller({ sendTogether: config.sendTogether });
// The workers are alike: the first one speaks for all.
if (config.worker === 0) {
  post({
    kind: "log",
    level: "info",
    message: !config.sendTogether
      ? "packet thread: each session's packets go out in system calls of their own (--no-send-together)"
      : poller.sendsUdpTogether
        ? "packet thread: the packets of several sessions go out together (UDP on a raw UDP socket)"
        : "packet thread: the protocol-41 packets of several sessions go out together; each UDP session's on its own socket (no raw UDP socket: CAP_NET_RAW?)",
  });
}
const channels = openChannels(poller);
// Assigned before the event loop can deliver a batch to the callbacks above.
let forwarder: Forwarder;
if (channels) {
  forwarder = new Forwarder(channels, { strictOuterSource: config.strictOuterSource, now: () => poller.now });
  const { steering } = channels;
  poller.deferSends((count, sent, bytes) => forwarder.settle(count, sent, bytes));
  const sockets = new Map<number, UdpSocket>();

  const openSocket = (s: TunnelSession): UdpSocket => {
    const sock = new UdpSocket({
      // On the wildcard, each session's socket is bound to the address its client reached, so
      // replies leave from it on a host with several addresses.
      address: config.udpListenAddress === "0.0.0.0" ? s.spec.localIpv4 : config.udpListenAddress,
      port: s.spec.serverUdpPort!,
      offload: config.offload,
      onDatagrams: (buf, offsets, lengths, addrs, ports, count, oversized) =>
        forwarder.onDatagrams(s, buf, offsets, lengths, addrs, ports, count, oversized),
      poller,
      onError: (err) => {
        // The socket is closed already; the session stays up and counts its packets as sendFailed.
        s.socket = null;
        sockets.delete(s.id);
        post({ kind: "log", level: "warn", message: `session ${s.id}: UDP socket failed: ${err.message}` });
      },
    });
    sockets.set(s.id, sock);
    return sock;
  };

  const streams = new Map<number, StreamChannel>();
  /** The data connection is gone (closed by us, if not by the peer): the main thread ends the session. */
  const lose = (s: TunnelSession, reason: string): void => {
    streams.get(s.id)?.close();
    streams.delete(s.id);
    s.socket = null;
    post({ kind: "lost", sessionId: s.id, reason });
  };
  const attachStream = (s: TunnelSession, m: Extract<ToWorker, { kind: "attach" }>): void => {
    const { stream } = m;
    const channel = new StreamChannel({
      fd: stream.fd,
      what: `tcp ${stream.peerIpv4}:${stream.peerPort}`,
      input: stream.input,
      output: stream.output,
      // The largest packet a client's tunnel may carry; a frame announcing more is not one of ours.
      maxPacket: Math.max(config.mtu, s.spec.mtu),
      poller,
      onPackets: (buf, offsets, lengths, count, oversized) => forwarder.onStreamPackets(s, buf, offsets, lengths, count, oversized),
      onError: (err) => lose(s, err.code === "EOF" ? "the client closed the tunnel connection" : err.message),
    });
    streams.set(s.id, channel);
    forwarder.attachStream(s, channel, ipv4ToUint32(stream.peerIpv4), stream.peerPort);
  };
  /** Ends TCP sessions whose clients have read nothing of what waits for them for too long. */
  const checkStalls = (): void => {
    for (const [id, channel] of streams) {
      const { bytes, stalledMs } = channel.backlog();
      if (stalledMs < config.streamStallMs) continue;
      const s = forwarder.session(id);
      if (s) lose(s, `the client read nothing for ${Math.round(stalledMs / 1000)} s (${bytes} bytes waiting)`);
    }
  };

  let stopped = false;
  let nextReport = performance.now() + config.statsIntervalMs;
  // One wait per turn of the event loop: packets until a message arrives or a report is due.
  const pump = (): void => {
    if (stopped) return;
    poller.wait(nextReport - performance.now());
    const now = performance.now();
    if (now >= nextReport) {
      nextReport = now + config.statsIntervalMs;
      const { sessions, totals } = forwarder.report();
      const offload = channels!.tun.offloadStats();
      totals[TUN_SUPER_READ] = offload.superIn;
      totals[TUN_SEGMENTS_READ] = offload.segmentsIn;
      totals[TUN_SUPER_WRITTEN] = offload.superOut;
      totals[TUN_SEGMENTS_WRITTEN] = offload.joinedOut;
      if (channels!.shared instanceof SharedUdpSocket) {
        const { reads, datagrams } = channels!.shared.coalesced();
        totals[UDP_COALESCED_READS] = reads;
        totals[UDP_COALESCED_DATAGRAMS] = datagrams;
      }
      post({ kind: "report", sessions, totals }, [sessions.buffer as ArrayBuffer, totals.buffer as ArrayBuffer]);
      checkStalls();
    }
    setImmediate(pump);
  };
  setImmediate(pump);

  port.on("message", (m: ToWorker) => {
    switch (m.kind) {
      case "open": {
        let s: TunnelSession | undefined;
        const steered: TunnelSession["owned"][number][] = [];
        try {
          s = forwarder.open(m.spec, (session) => (session.spec.transport === "udp" ? openSocket(session) : null));
          for (const prefix of steering ? s.owned : []) {
            steering!.add(prefix, config.worker);
            steered.push(prefix);
          }
          post({ kind: "done", seq: m.seq, counters: Float64Array.from(s.counters) });
        } catch (err) {
          for (const prefix of steered) steering!.remove(prefix);
          if (s) {
            forwarder.close(s.id);
            sockets.get(s.id)?.close();
            sockets.delete(s.id);
          }
          post({ kind: "failed", seq: m.seq, error: errorInfo(err) });
        }
        break;
      }
      case "attach": {
        const s = forwarder.session(m.sessionId);
        if (!s || s.spec.transport !== "tcp" || streams.has(m.sessionId)) {
          closeFd(m.stream.fd);
          post({ kind: "failed", seq: m.seq, error: { message: `session ${m.sessionId} takes no data connection` } });
          break;
        }
        try {
          attachStream(s, m);
          post({ kind: "done", seq: m.seq, counters: null });
        } catch (err) {
          // The channel closed the fd when it failed to open.
          post({ kind: "failed", seq: m.seq, error: errorInfo(err) });
        }
        break;
      }
      case "close": {
        const s = forwarder.session(m.sessionId);
        for (const prefix of steering && s ? s.owned : []) {
          try {
            steering!.remove(prefix);
          } catch (err) {
            // Left behind, the prefix steers to this worker, which has no route for it: dropped as noRoute.
            post({ kind: "log", level: "warn", message: `session ${m.sessionId}: ${(err as Error).message}` });
          }
        }
        const counters = forwarder.close(m.sessionId);
        sockets.get(m.sessionId)?.close();
        sockets.delete(m.sessionId);
        streams.get(m.sessionId)?.close();
        streams.delete(m.sessionId);
        post({ kind: "done", seq: m.seq, counters });
        break;
      }
      case "stop":
        stopped = true;
        for (const sock of sockets.values()) sock.close();
        for (const channel of streams.values()) channel.close();
        channels.raw41.close();
        if (channels.shared instanceof SharedUdpSocket) channels.shared.close();
        steering?.close();
        channels.tun.close();
        poller.close();
        port.close();
        break;
    }
  });
  post({
    kind: "started",
    tunName: channels.tun.name,
    offloads: channels.tun.offloads,
    steeringFd: config.worker === 0 && steering ? steering.fd : null,
    alone: channels.alone,
    sharedUdp: channels.shared === null ? null : channels.shared instanceof SharedUdpSocket ? { port: channels.shared.port } : channels.shared,
  });
}
