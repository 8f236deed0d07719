// Agents of server/dataplane/userspace-netns.test.ts, one per namespace role (the last argument):
//   broker — runs a UserspaceDataPlane (started the way bin/dtcps.js runs, with tsx registered
//            by register(), so the worker must register it itself);
//   client — a scripted tunnel client: UDP and protocol-41 sockets sending raw IPv6 packets
//            built by the test, and recording what comes back.

import { readdirSync, readFileSync } from "node:fs";
import { startMetricsServer } from "../../server/metrics/server.ts";
import { ipv4ToUint32, RawSocket41, UdpSocket, uint32ToIpv4 } from "../../server/dataplane/native.ts";
import { serveAgent } from "./netns-agent.ts";
import { summarize, type PacketSummary } from "./packets.ts";
import type { TunnelSpec } from "../../server/dataplane/types.ts";
import { UserspaceDataPlane } from "../../server/dataplane/userspace.ts";

function broker(): void {
  let plane: UserspaceDataPlane | undefined;
  const logs: string[] = [];
  const log = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(`warning: ${m}`), debug: () => {} };
  serveAgent({
    start: async (args) => {
      plane = new UserspaceDataPlane({
        pools: args.pools as string[],
        statsIntervalMs: 50,
        ...(typeof args.workers === "number" ? { workers: args.workers } : {}),
        // A host without nftables' tproxy, as nft would say it.
        ...(args.nftFails ? { nft: () => Promise.reject(new Error("nft: Error: Could not process rule: No such file or directory")) } : {}),
        log,
        onFatal: (e) => logs.push(`fatal: ${e.message}`),
        ...(typeof args.forwardingMarker === "string" ? { forwardingMarker: args.forwardingMarker } : {}),
      });
      await plane.start();
      return plane.description;
    },
    open: (args) => plane!.open(args.spec as TunnelSpec),
    close: (args) => plane!.close(args.sessionId as number),
    stats: (args) => plane!.stats(args.sessionId as number),
    metrics: async () => {
      const server = await startMetricsServer({ host: "127.0.0.1", port: 0 }, [plane!]);
      try {
        return await (await fetch(`http://127.0.0.1:${server.address.port}/metrics`)).text();
      } finally {
        await server.close();
      }
    },
    stop: () => plane!.stop(),
    logs: () => logs,
    // The nice value (field 19 of a stat file) of the main thread and of every thread.
    nices: () => {
      const nice = (path: string): number => {
        const stat = readFileSync(path, "latin1");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
      };
      return { main: nice("/proc/self/stat"), threads: readdirSync("/proc/self/task").map((tid) => nice(`/proc/self/task/${tid}/stat`)) };
    },
  });
}

type Received = PacketSummary & { from: string; port: number | null };

function client(): void {
  const udp = new Map<string, UdpSocket>();
  let raw: RawSocket41 | undefined;
  const inbox = new Map<string, Received[]>();
  const record = (name: string, r: Received): void => {
    if (!inbox.has(name)) inbox.set(name, []);
    inbox.get(name)!.push(r);
  };
  const one = (hex: string): [Buffer, Uint32Array, Uint32Array] => {
    const b = Buffer.from(hex, "hex");
    return [b, Uint32Array.of(0), Uint32Array.of(b.length)];
  };
  serveAgent({
    openUdp: (args) => {
      const name = args.name as string;
      const sock = new UdpSocket({
        address: args.address as string,
        port: args.port as number,
        onDatagrams(buf, offsets, lengths, addrs, ports, count) {
          for (let i = 0; i < count; i++) {
            const p = buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!);
            if (p.length >= 40) record(name, { ...summarize(p), from: uint32ToIpv4(addrs[i]!), port: ports[i]! });
          }
        },
      });
      udp.set(name, sock);
      return sock.port;
    },
    closeUdp: (args) => udp.get(args.name as string)?.close(),
    openRaw: () => {
      raw = new RawSocket41({
        onPackets(buf, offsets, lengths, addrs, count) {
          for (let i = 0; i < count; i++) {
            const p = buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!);
            if (p.length >= 40) record("raw", { ...summarize(p), from: uint32ToIpv4(addrs[i]!), port: null });
          }
        },
      });
    },
    sendUdp: (args) => {
      const [b, offsets, lengths] = one(args.hex as string);
      const to = Uint32Array.of(ipv4ToUint32(args.to as string));
      return udp.get(args.name as string)!.sendBatch(b, offsets, lengths, to, Uint16Array.of(args.port as number), 1);
    },
    sendRaw: (args) => {
      const [b, offsets, lengths] = one(args.hex as string);
      const to = Uint32Array.of(ipv4ToUint32(args.to as string));
      return raw!.sendBatch(b, offsets, lengths, to, 1);
    },
    inbox: (args) => {
      const got = inbox.get(args.name as string) ?? [];
      inbox.delete(args.name as string);
      return got;
    },
  });
}

const role = process.argv.at(-1);
if (role === "broker") broker();
else if (role === "client") client();
else throw new Error(`unknown role ${role}`);
