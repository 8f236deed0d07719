// Run by server/dataplane/native.test.ts inside a throwaway network namespace (`ip netns exec`); prints one JSON
// object with what it observed and exits. Modes:
//   tun     — create a TUN, send UDP over IPv6 into it, answer from the read callback;
//             then delete a second TUN from outside and report the channel's error.
//   nocaps  — started without CAP_NET_ADMIN/CAP_NET_RAW: report the errors and the UDP fallback.
//   oversize — packets bigger than a receive slot (TUN whose MTU was raised behind our back, raw
//             protocol 41), reported as dropped; then a TUN with a large MTU widens the slots.
//   steer   — a TUN with two queues and a steering map of two prefixes: which queue each
//             destination reaches, and what the full map and a duplicate prefix say.

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { RawSocket41, TunDevice, UdpSocket } from "../../server/dataplane/native.ts";
import { addressPrefix, cidrPrefix } from "../../server/dataplane/packet.ts";

const TUN_NAME = "dtcpt0";
const LOCAL = "fd00:d7c9::1";
const REMOTE = "fd00:d7c9::2"; // routed to the TUN: only our read callback ever sees it
const REMOTE_PORT = 9999;

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function errorOf(fn: () => unknown): { code?: string; message: string } | null {
  try {
    fn();
    return null;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { code: e.code, message: e.message };
  }
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

async function tunMode(): Promise<object> {
  ip("link", "set", "lo", "up");
  let request: object | undefined;
  let written = -1;
  const tun = new TunDevice({
    name: TUN_NAME,
    mtu: 1400,
    txQueueLen: 4096,
    onPackets(buf, offsets, lengths, count) {
      for (let i = 0; i < count; i++) {
        const p = buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!);
        // Skip the kernel's own router solicitations and MLD reports.
        if (p.length < 48 || p[0]! >> 4 !== 6 || p[6] !== 17) continue;
        request = {
          src: hex(p.subarray(8, 24)),
          dst: hex(p.subarray(24, 40)),
          dstPort: p.readUInt16BE(42),
          payload: p.subarray(48).toString(),
        };
        // Swapping addresses and ports leaves the UDP checksum valid: the reply.
        const r = Buffer.from(p);
        p.copy(r, 8, 24, 40);
        p.copy(r, 24, 8, 24);
        p.copy(r, 40, 42, 44);
        p.copy(r, 42, 40, 42);
        written = tun.writeBatch(r, Uint32Array.of(0), Uint32Array.of(r.length), 1);
      }
    },
  });
  const sock = dgram.createSocket("udp6");
  try {
    const link = JSON.parse(ip("-j", "link", "show", "dev", tun.name)) as [
      { mtu: number; txqlen: number; flags: string[] },
    ];
    ip("-6", "addr", "add", `${LOCAL}/64`, "dev", tun.name, "nodad");
    await new Promise<void>((resolve) => sock.bind({ address: LOCAL, port: 0 }, resolve));
    const reply = new Promise<{ payload: string; from: string; port: number }>((resolve, reject) => {
      sock.once("message", (msg, rinfo) =>
        resolve({ payload: msg.toString(), from: rinfo.address, port: rinfo.port }),
      );
      setTimeout(() => reject(new Error("no reply through the TUN within 5 s")), 5000).unref();
    });
    sock.send("hello through tun", REMOTE_PORT, REMOTE);
    const answer = await reply;
    // A device deleted from outside ends its channel with an error instead of a busy loop.
    const deletedError = await new Promise<string | undefined>((resolve, reject) => {
      const other = new TunDevice({ name: "dtcpt1", mtu: 1280, onPackets() {}, onError: (e) => resolve(e.code) });
      ip("link", "del", other.name);
      setTimeout(() => reject(new Error("no error after deleting the device")), 3000).unref();
    });
    return {
      name: tun.name,
      mtu: link[0].mtu,
      txqlen: link[0].txqlen,
      up: link[0].flags.includes("UP"),
      localPort: sock.address().port,
      request,
      written,
      reply: answer,
      deletedError,
    };
  } finally {
    sock.close();
    tun.close();
  }
}

/** Sends one UDP datagram of `size` bytes over IPv6 from `from` to `to` (routed to a TUN). */
async function sendUdp6(from: string, to: string, size: number): Promise<void> {
  const sock = dgram.createSocket("udp6");
  try {
    await new Promise<void>((resolve) => sock.bind({ address: from, port: 0 }, resolve));
    await new Promise<void>((resolve, reject) => sock.send(Buffer.alloc(size, 0x55), REMOTE_PORT, to, (e) => (e ? reject(e) : resolve())));
  } finally {
    sock.close();
  }
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 200));

async function oversizeMode(): Promise<object> {
  ip("link", "set", "lo", "up");
  // Only UDP to REMOTE_PORT counts: the kernel's own router solicitations and MLD reports are small.
  const udpLengths = (buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, count: number, into: number[]): void => {
    for (let i = 0; i < count; i++) {
      const p = buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!);
      if (p.length >= 48 && p[0]! >> 4 === 6 && p[6] === 17 && p.readUInt16BE(42) === REMOTE_PORT) into.push(p.length);
    }
  };
  const tunLengths: number[] = [];
  let tunOversized = 0;
  const tun = new TunDevice({
    name: TUN_NAME,
    mtu: 1400,
    onPackets(buf, offsets, lengths, count, oversized) {
      tunOversized += oversized;
      udpLengths(buf, offsets, lengths, count, tunLengths);
    },
  });
  // Protocol 41 on loopback (MTU 65536: nothing is fragmented); the payload ends in a nonce.
  const nonce = randomBytes(16);
  const rawLengths: number[] = [];
  let rawOversized = 0;
  const rx = new RawSocket41({
    onPackets(buf, offsets, lengths, _addrs, count, oversized) {
      rawOversized += oversized;
      for (let i = 0; i < count; i++) {
        if (buf.subarray(offsets[i]! + lengths[i]! - 16, offsets[i]! + lengths[i]!).equals(nonce)) rawLengths.push(lengths[i]!);
      }
    },
  });
  const tx = new RawSocket41({ address: "127.0.0.1", onPackets() {} });
  const bigTunLengths: number[] = [];
  let big: TunDevice | undefined;
  try {
    ip("-6", "addr", "add", `${LOCAL}/64`, "dev", tun.name, "nodad");
    // The operator raises the MTU after the slots were sized for 1400: 2548-byte packets follow.
    ip("link", "set", "dev", tun.name, "mtu", "3000");
    await sendUdp6(LOCAL, REMOTE, 2500);
    await sendUdp6(LOCAL, REMOTE, 1000);

    // IPv6 header + payload + nonce; the kernel adds 20 bytes of IPv4 header.
    const packet = (inner: number): Buffer =>
      Buffer.concat([Buffer.from([0x60, 0, 0, 0, (inner - 40) >> 8, (inner - 40) & 255, 59, 64]), Buffer.alloc(inner - 24), nonce]);
    for (const inner of [2100, 1480]) {
      const p = packet(inner);
      tx.sendBatch(p, Uint32Array.of(0), Uint32Array.of(p.length), Uint32Array.of(0x7f000001), 1);
    }
    await settle(); // read with the 2 KB slots, before the next TUN widens them

    // A TUN with a large MTU (as dtcpc allows) widens the slots: its big packets arrive whole.
    big = new TunDevice({
      name: "dtcpt2",
      mtu: 4000,
      onPackets: (buf, offsets, lengths, count) => udpLengths(buf, offsets, lengths, count, bigTunLengths),
    });
    ip("-6", "addr", "add", "fd00:d7ca::1/64", "dev", big.name, "nodad");
    await sendUdp6("fd00:d7ca::1", "fd00:d7ca::2", 3500);
    await settle();
    return { tunOversized, tunLengths, rawOversized, rawLengths, bigTunLengths };
  } finally {
    big?.close();
    tx.close();
    rx.close();
    tun.close();
  }
}

function nocapsMode(): object {
  const tun = errorOf(() => new TunDevice({ name: TUN_NAME, mtu: 1280, onPackets() {} }));
  const raw = errorOf(() => new RawSocket41({ onPackets() {} }));
  let udp: { port: number } | { error: string };
  try {
    const s = new UdpSocket({ address: "127.0.0.1", port: 0, onDatagrams() {} });
    udp = { port: s.port };
    s.close();
  } catch (err) {
    udp = { error: String(err) };
  }
  return { tun, raw, udp };
}

async function steerMode(): Promise<object> {
  ip("link", "set", "lo", "up");
  // UDP destinations seen on each queue (the kernel's own solicitations and reports skipped).
  const seen: string[][] = [[], []];
  const onQueue = (q: number) => (buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, count: number) => {
    for (let i = 0; i < count; i++) {
      const p = buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!);
      if (p.length >= 48 && p[0]! >> 4 === 6 && p[6] === 17) seen[q]!.push(hex(p.subarray(24, 40)));
    }
  };
  const first = new TunDevice({ name: TUN_NAME, mtu: 1280, offload: false, queue: "first", onPackets: onQueue(0) });
  const second = new TunDevice({ name: TUN_NAME, mtu: 1280, offload: false, queue: "attach", onPackets: onQueue(1) });
  const steering = first.steer(2);
  try {
    ip("-6", "addr", "add", `${LOCAL}/128`, "dev", TUN_NAME, "nodad");
    ip("-6", "route", "add", "fd00:5::/32", "dev", TUN_NAME);
    steering.add(cidrPrefix("fd00:5:1::/48"), 1);
    steering.add(addressPrefix("fd00:5:2::7"), 1);
    const full = errorOf(() => steering.add(addressPrefix("fd00:5:3::1"), 1));
    steering.remove(addressPrefix("fd00:5:2::7"));
    const duplicate = errorOf(() => steering.add(cidrPrefix("fd00:5:1::/48"), 0));
    // fd00:5:1::9 is in a steered prefix; fd00:5:2::7 no longer is; fd00:5:3::1 never was.
    for (const to of ["fd00:5:1::9", "fd00:5:2::7", "fd00:5:3::1"]) await sendUdp6(LOCAL, to, 20);
    await settle();
    return { full, duplicate, queues: seen };
  } finally {
    steering.close();
    second.close();
    first.close();
  }
}

const mode = process.argv[2];
const result =
  mode === "tun"
    ? await tunMode()
    : mode === "nocaps"
      ? nocapsMode()
      : mode === "oversize"
        ? await oversizeMode()
        : mode === "steer"
          ? await steerMode()
          : null;
if (!result) throw new Error(`unknown mode ${mode}`);
// Also linkGone: a non-persistent TUN disappears with its last fd.
const linkGone = mode === "tun" ? errorOf(() => ip("link", "show", "dev", TUN_NAME)) !== null : undefined;
process.stdout.write(JSON.stringify({ ...result, linkGone }) + "\n");
