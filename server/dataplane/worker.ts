// The packet worker: owns the TUN, the protocol-41 socket and one UDP socket per UDP session, and
// runs the Forwarder over their batches, so that forwarding never stalls the DTCP control
// connections on the main thread (and a busy main thread never delays packets).

import { parentPort, workerData } from "node:worker_threads";
import { Forwarder } from "./forwarder.ts";
import { RawSocket41, TunDevice, UdpSocket } from "./native.ts";
import type { TunnelSession } from "./session.ts";
import { errorInfo, type FromWorker, type ToWorker, type WorkerConfig } from "./worker-protocol.ts";

const config = workerData as WorkerConfig;
const port = parentPort!;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

function openChannels(): { tun: TunDevice; raw41: RawSocket41 } | null {
  let tun: TunDevice | undefined;
  try {
    // Channel errors of the TUN and the raw socket are fatal: thrown, they end the worker and the
    // main thread reports it.
    tun = new TunDevice({
      name: config.tunName,
      mtu: config.mtu,
      txQueueLen: config.txQueueLen,
      onPackets: (buf, offsets, lengths, count, oversized) => forwarder.onTunPackets(buf, offsets, lengths, count, oversized),
    });
    const raw41 = new RawSocket41({
      onPackets: (buf, offsets, lengths, addrs, count, oversized) =>
        forwarder.onRaw41Packets(buf, offsets, lengths, addrs, count, oversized),
    });
    return { tun, raw41 };
  } catch (err) {
    tun?.close();
    post({ kind: "startFailed", error: errorInfo(err) });
    port.close();
    return null;
  }
}

const channels = openChannels();
// Assigned before the event loop can deliver a batch to the callbacks above.
let forwarder: Forwarder;
if (channels) {
  forwarder = new Forwarder(channels, { strictOuterSource: config.strictOuterSource });
  const sockets = new Map<number, UdpSocket>();

  const openSocket = (s: TunnelSession): UdpSocket => {
    const sock = new UdpSocket({
      address: config.udpListenAddress,
      port: s.spec.serverUdpPort!,
      onDatagrams: (buf, offsets, lengths, addrs, ports, count, oversized) =>
        forwarder.onDatagrams(s, buf, offsets, lengths, addrs, ports, count, oversized),
      onError: (err) => {
        // The socket is closed already; the session stays up and counts its packets as sendFailed.
        s.udp = null;
        sockets.delete(s.id);
        post({ kind: "log", level: "warn", message: `session ${s.id}: UDP socket failed: ${err.message}` });
      },
    });
    sockets.set(s.id, sock);
    return sock;
  };

  const timer = setInterval(() => {
    const { sessions, totals } = forwarder.report();
    post({ kind: "report", sessions, totals }, [sessions.buffer as ArrayBuffer, totals.buffer as ArrayBuffer]);
  }, config.statsIntervalMs);

  port.on("message", (m: ToWorker) => {
    switch (m.kind) {
      case "open":
        try {
          const s = forwarder.open(m.spec, (session) => (session.spec.transport === "udp" ? openSocket(session) : null));
          post({ kind: "done", seq: m.seq, counters: Float64Array.from(s.counters) });
        } catch (err) {
          post({ kind: "failed", seq: m.seq, error: errorInfo(err) });
        }
        break;
      case "close": {
        const counters = forwarder.close(m.sessionId);
        sockets.get(m.sessionId)?.close();
        sockets.delete(m.sessionId);
        post({ kind: "done", seq: m.seq, counters });
        break;
      }
      case "stop":
        clearInterval(timer);
        for (const sock of sockets.values()) sock.close();
        channels.raw41.close();
        channels.tun.close();
        port.close();
        break;
    }
  });
  post({ kind: "started", tunName: channels.tun.name });
}
