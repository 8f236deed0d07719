import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import { createServer, connect, type Socket } from "node:net";
import {
  duplicateFd,
  Poller,
  RawSocket41,
  SEND_DEFERRED,
  SHARED_CUT,
  SharedUdpSocket,
  StreamChannel,
  UdpSocket,
  ipv4ToUint32,
  udpCoalescingWorks,
  uint32ToIpv4,
} from "./native.ts";
import { run, skipUnlessRoot, until } from "../../test/support/namespaces.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const CHILD = fileURLToPath(new URL("../../test/support/native-netns-child.ts", import.meta.url));
const LOOPBACK = ipv4ToUint32("127.0.0.1");

const skip = skipUnlessRoot("needs root (CAP_NET_ADMIN, CAP_NET_RAW, ip netns)");

describe("UdpSocket", { skip }, () => {
  type Got = { payload: string; addr: number; port: number };
  let a: UdpSocket;
  let b: UdpSocket;
  const got: Got[] = [];
  const batchSizes: number[] = [];
  let oversized = 0;

  before(() => {
    a = new UdpSocket({ address: "127.0.0.1", port: 0, onDatagrams() {} });
    b = new UdpSocket({
      address: "127.0.0.1",
      port: 0,
      onDatagrams(buf, offsets, lengths, addrs, ports, count, cut) {
        batchSizes.push(count);
        oversized += cut;
        for (let i = 0; i < count; i++) {
          const payload = buf.toString("latin1", offsets[i]!, offsets[i]! + lengths[i]!);
          got.push({ payload, addr: addrs[i]!, port: ports[i]! });
        }
      },
    });
  });
  after(() => {
    a?.close();
    b?.close();
  });

  test("binds to the requested address and reports the chosen port", () => {
    assert.equal(b.address, "127.0.0.1");
    assert.ok(b.port > 0 && b.port !== a.port);
  });

  test("delivers a batch with an empty datagram and each source address and port", async () => {
    got.length = 0;
    const data = Buffer.from("firstsecond");
    const sent = a.sendBatch(
      data,
      Uint32Array.of(0, 5, 0, 5),
      Uint32Array.of(5, 0, 11, 6),
      Uint32Array.of(LOOPBACK, LOOPBACK, LOOPBACK, LOOPBACK),
      Uint16Array.of(b.port, b.port, b.port, b.port),
      4,
    );
    assert.equal(sent, 4);
    await until(() => got.length === 4);
    assert.deepEqual(
      got.map((g) => g.payload),
      ["first", "", "firstsecond", "second"],
    );
    for (const g of got) {
      assert.equal(uint32ToIpv4(g.addr), "127.0.0.1");
      assert.equal(g.port, a.port);
    }
  });

  test("sends more than one sendmmsg batch and reads at most 64 per callback", async () => {
    got.length = 0;
    batchSizes.length = 0;
    const n = 300;
    const buf = Buffer.alloc(n * 4);
    const offsets = new Uint32Array(n);
    const lengths = new Uint32Array(n).fill(4);
    for (let i = 0; i < n; i++) {
      buf.writeUInt32BE(i, i * 4);
      offsets[i] = i * 4;
    }
    const sent = a.sendBatch(buf, offsets, lengths, new Uint32Array(n).fill(LOOPBACK), new Uint16Array(n).fill(b.port), n);
    assert.equal(sent, n);
    await until(() => got.length === n);
    assert.deepEqual(
      got.map((g) => Buffer.from(g.payload, "latin1").readUInt32BE(0)),
      Array.from({ length: n }, (_, i) => i),
    );
    assert.ok(Math.max(...batchSizes) <= 64, `batch sizes ${batchSizes.join(",")}`);
    assert.ok(batchSizes.length < n, "datagrams arrive in batches, not one call each");
  });

  test("segmented sends: runs of equal datagrams to one peer, cut by the kernel, arrive as sent and in order; with offload off too", async () => {
    // Runs broken by a shorter datagram, another destination, an empty datagram and a longer one.
    const lengths = Uint32Array.of(1200, 1200, 1200, 700, 1200, 1200, 0, 1200, 1300, 1300, 5, 1200);
    const toC = [false, false, false, false, false, true, false, false, false, false, false, false];
    const received: { from: string; bytes: Buffer }[] = [];
    const sink = (name: string) => (buf: Buffer, offsets: Uint32Array, ls: Uint32Array, _a: Uint32Array, _p: Uint16Array, count: number) => {
      for (let i = 0; i < count; i++) received.push({ from: name, bytes: Buffer.from(buf.subarray(offsets[i]!, offsets[i]! + ls[i]!)) });
    };
    const c = new UdpSocket({ address: "127.0.0.1", port: 0, onDatagrams: sink("c") });
    const d = new UdpSocket({ address: "127.0.0.1", port: 0, onDatagrams: sink("d") });
    try {
      for (const offload of [true, false]) {
        received.length = 0;
        const sender = new UdpSocket({ address: "127.0.0.1", port: 0, offload, onDatagrams() {} });
        try {
          assert.equal(sender.segments, offload, "this kernel does segmented sends");
          const offsets = new Uint32Array(lengths.length);
          let at = 0;
          for (let i = 0; i < lengths.length; i++) (offsets[i] = at), (at += lengths[i]!);
          const buf = Buffer.alloc(at);
          for (let i = 0; i < lengths.length; i++) buf.fill(i + 1, offsets[i]!, offsets[i]! + lengths[i]!);
          const ports = Uint16Array.from(toC, (x) => (x ? c.port : d.port));
          assert.equal(sender.sendBatch(buf, offsets, lengths, new Uint32Array(lengths.length).fill(LOOPBACK), ports, lengths.length), lengths.length);
          await until(() => received.length === lengths.length);
          const want = Array.from(lengths, (l, i) => ({ from: toC[i] ? "c" : "d", bytes: Buffer.alloc(l, i + 1) }));
          assert.deepEqual(received.filter((r) => r.from === "d"), want.filter((w) => w.from === "d"), `offload ${offload}`);
          assert.deepEqual(received.filter((r) => r.from === "c"), want.filter((w) => w.from === "c"), `offload ${offload}`);
        } finally {
          sender.close();
        }
      }
    } finally {
      c.close();
      d.close();
    }
  });

  test("drops and counts a datagram bigger than its 2 KB slot instead of delivering it cut", async () => {
    got.length = 0;
    oversized = 0;
    const sizes = [2049, 2048, 9000, 1480];
    const buf = Buffer.concat(sizes.map((n, i) => Buffer.alloc(n, 0x61 + i)));
    const offsets = Uint32Array.from(sizes, (_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const sent = a.sendBatch(buf, offsets, Uint32Array.from(sizes), new Uint32Array(4).fill(LOOPBACK), new Uint16Array(4).fill(b.port), 4);
    assert.equal(sent, 4);
    await until(() => got.length + oversized >= 4);
    assert.equal(oversized, 2);
    assert.deepEqual(
      got.map((g) => g.payload),
      ["b".repeat(2048), "d".repeat(1480)],
      "the datagrams that fit arrive whole and in order",
    );
  });

  test("rejects slices outside the buffer and counts beyond the arrays", () => {
    const one = Uint32Array.of(LOOPBACK);
    const port = Uint16Array.of(b.port);
    assert.throws(() => a.sendBatch(Buffer.alloc(4), Uint32Array.of(2), Uint32Array.of(3), one, port, 1), RangeError);
    assert.throws(() => a.sendBatch(Buffer.alloc(4), Uint32Array.of(0), Uint32Array.of(1), one, port, 2), RangeError);
  });

  test("fails with EBADF after close", () => {
    const s = new UdpSocket({ port: 0, onDatagrams() {} });
    s.close();
    s.close();
    assert.throws(
      () => s.sendBatch(Buffer.alloc(1), Uint32Array.of(0), Uint32Array.of(1), Uint32Array.of(LOOPBACK), Uint16Array.of(b.port), 1),
      { code: "EBADF" },
    );
  });
});

/** A poller's UDP socket that hands each batch (four datagrams) to `split`, which sends them on as sessions would. */
function splitter(poller: Poller, split: (buf: Buffer, offsets: Uint32Array, lengths: Uint32Array) => void): UdpSocket {
  return new UdpSocket({
    address: "127.0.0.1",
    port: 0,
    poller,
    onDatagrams(buf, offsets, lengths, _addrs, _ports, count) {
      assert.equal(count, 4);
      split(buf, offsets, lengths);
    },
  });
}

describe("Poller", () => {
  // UDP on loopback needs no privileges. Each test has its own poller and sockets.
  const sendTo = (from: UdpSocket, to: UdpSocket, ...payloads: string[]): void => {
    const buf = Buffer.from(payloads.join(""));
    const lengths = Uint32Array.from(payloads, (p) => p.length);
    const offsets = Uint32Array.from(payloads, (_, i) => payloads.slice(0, i).join("").length);
    const n = payloads.length;
    assert.equal(from.sendBatch(buf, offsets, lengths, new Uint32Array(n).fill(LOOPBACK), new Uint16Array(n).fill(to.port), n), n);
  };
  const receiver = (poller: Poller, got: string[], onBatch?: () => void): UdpSocket =>
    new UdpSocket({
      address: "127.0.0.1",
      port: 0,
      poller,
      onDatagrams(buf, offsets, lengths, _addrs, _ports, count) {
        for (let i = 0; i < count; i++) got.push(buf.toString("latin1", offsets[i]!, offsets[i]! + lengths[i]!));
        onBatch?.();
      },
    });
  const timed = (fn: () => void): number => {
    const t0 = performance.now();
    fn();
    return performance.now() - t0;
  };

  test("its channels are read inside wait(), not by the event loop; wait() returns by its timeout", async () => {
    const poller = new Poller();
    const got: string[] = [];
    const a = new UdpSocket({ address: "127.0.0.1", port: 0, onDatagrams() {} });
    const b = receiver(poller, got);
    try {
      sendTo(a, b, "one", "two", "three");
      await sleep(100);
      assert.deepEqual(got, [], "the event loop left the socket alone");
      const before = Date.now();
      const ms = timed(() => poller.wait(150));
      assert.deepEqual(got, ["one", "two", "three"]);
      assert.ok(poller.now >= before - 1 && poller.now <= Date.now() + 1, "now is the time of the last wakeup");
      // Not sooner is not promised: the test runner's own I/O on the event loop ends a wait early, as it should.
      assert.ok(ms < 1500, `waited ${ms.toFixed(0)} ms for a 150 ms timeout`);
      assert.ok(timed(() => poller.wait(0)) < 100, "a zero timeout only takes what is there");
    } finally {
      a.close();
      b.close();
      poller.close();
    }
  });

  test("a shared socket hands over each datagram with where it was sent; runs coalesced by the kernel (UDP_GRO) come out as sent, in order, across batches", async () => {
    // 150 segments of 1200 bytes in runs of 50 (three coalesced reads, more than two batches of
    // 64), then a short one, an empty one and one too big for a 2 KB slot.
    const lengths = Uint32Array.from({ length: 153 }, (_, i) => (i < 150 ? 1200 : [700, 0, 3000][i - 150]!));
    assert.ok(udpCoalescingWorks(), "this kernel coalesces a segmented send over loopback");
    for (const offload of [true, false]) {
      const poller = new Poller();
      const got: { len: number; first: number; dst: string; dport: number; from: number }[] = [];
      const batches: number[] = [];
      const shared = new SharedUdpSocket({
        address: "127.0.0.1",
        offload,
        poller,
        onDatagrams(buf, offsets, ls, _addrs, ports, dsts, dports, count) {
          batches.push(count);
          for (let i = 0; i < count; i++) {
            const len = ls[i]!;
            got.push({ len, first: len === SHARED_CUT || len === 0 ? -1 : (buf[offsets[i]!]! << 8) | buf[offsets[i]! + 1]!, dst: uint32ToIpv4(dsts[i]!), dport: dports[i]!, from: ports[i]! });
          }
        },
      });
      const sender = new UdpSocket({ address: "127.0.0.1", port: 0, onDatagrams() {} });
      try {
        const offsets = new Uint32Array(lengths.length);
        let at = 0;
        for (let i = 0; i < lengths.length; i++) (offsets[i] = at), (at += lengths[i]!);
        const buf = Buffer.alloc(at);
        for (let i = 0; i < lengths.length; i++) if (lengths[i]! >= 2) buf.writeUInt16BE(i, offsets[i]!);
        // In runs of at most 50, as the sender's outbox would make them.
        for (let from = 0; from < lengths.length; from += 50) {
          const n = Math.min(50, lengths.length - from);
          const sent = sender.sendBatch(buf, offsets.subarray(from), lengths.subarray(from), new Uint32Array(n).fill(LOOPBACK), new Uint16Array(n).fill(shared.port), n);
          assert.equal(sent, n);
        }
        const deadline = Date.now() + 3000;
        while (got.length < lengths.length && Date.now() < deadline) poller.wait(50);
        const want = Array.from(lengths, (l, i) => ({ len: l > 2048 ? SHARED_CUT : l, first: l === 0 || l > 2048 ? -1 : i, dst: "127.0.0.1", dport: shared.port, from: sender.port }));
        assert.deepEqual(got, want, `offload ${offload}`);
        assert.ok(Math.max(...batches) <= 64, `batches ${batches.join(",")}`);
        const { reads, datagrams } = shared.coalesced();
        if (offload) assert.ok(reads >= 1 && datagrams >= 2 * reads, `coalesced: ${reads} reads, ${datagrams} datagrams`);
        else assert.deepEqual({ reads, datagrams }, { reads: 0, datagrams: 0 });
      } finally {
        sender.close();
        shared.close();
        poller.close();
      }
    }
  });

  test("wait() ends as soon as the event loop has work: a message from another thread", async () => {
    const poller = new Poller();
    const worker = new Worker(
      "setTimeout(() => require('node:worker_threads').parentPort.postMessage('hi'), 200)",
      { eval: true },
    );
    try {
      const message = new Promise((resolve) => worker.once("message", resolve));
      await new Promise((resolve) => worker.once("online", resolve));
      const ms = timed(() => poller.wait(10_000));
      assert.ok(ms < 5000, `wait() returned after ${ms.toFixed(0)} ms, not at the message`);
      assert.equal(await message, "hi");
    } finally {
      await worker.terminate();
      poller.close();
    }
  });

  test("a handler's throw ends the wait and reaches its caller", () => {
    const poller = new Poller();
    const a = new UdpSocket({ address: "127.0.0.1", port: 0, onDatagrams() {} });
    const b = receiver(poller, [], () => {
      throw new Error("handler failed");
    });
    try {
      sendTo(a, b, "x");
      let ms = 0;
      assert.throws(() => (ms = timed(() => poller.wait(5000))), /handler failed/);
      assert.ok(ms < 2000);
    } finally {
      a.close();
      b.close();
      poller.close();
    }
  });

  test("a handler may close its own and another ready channel in the middle of a wait", () => {
    const poller = new Poller();
    const got: string[] = [];
    const a = new UdpSocket({ address: "127.0.0.1", port: 0, onDatagrams() {} });
    const closeBoth = (): void => {
      b.close();
      c.close();
    };
    const b: UdpSocket = receiver(poller, got, closeBoth);
    const c: UdpSocket = receiver(poller, got, closeBoth);
    try {
      sendTo(a, b, "to-b");
      sendTo(a, c, "to-c");
      poller.wait(100);
      assert.equal(got.length, 1, `only the first ready socket delivered: ${got.join(",")}`);
      poller.wait(50);
      assert.equal(got.length, 1);
    } finally {
      a.close();
      poller.close();
    }
  });

  test("deferred sends of a batch's packets go out when the handler returns; results reach the listener", async () => {
    const poller = new Poller();
    const echoes: string[] = [];
    const settled: { sent: number; bytes: number }[][] = [];
    const returned: number[] = [];
    const a = new UdpSocket({
      address: "127.0.0.1",
      port: 0,
      onDatagrams(buf, offsets, lengths, _addrs, _ports, count) {
        for (let i = 0; i < count; i++) echoes.push(buf.toString("latin1", offsets[i]!, offsets[i]! + lengths[i]!));
      },
    });
    const b: UdpSocket = new UdpSocket({
      address: "127.0.0.1",
      port: 0,
      poller,
      onDatagrams(buf, offsets, lengths, addrs, ports, count) {
        // Echo in place (deferred), and once a reply from a buffer of our own (sent at once).
        returned.push(b.sendBatch(buf, offsets, lengths, addrs, ports, count));
        const own = Buffer.from("own");
        returned.push(b.sendBatch(own, Uint32Array.of(0), Uint32Array.of(3), Uint32Array.of(LOOPBACK), Uint16Array.of(a.port), 1));
      },
    });
    poller.deferSends((count, sent, bytes) => settled.push(Array.from({ length: count }, (_, k) => ({ sent: sent[k]!, bytes: bytes[k]! }))));
    try {
      sendTo(a, b, "ping", "pong!");
      poller.wait(100);
      assert.deepEqual(returned, [SEND_DEFERRED, 1]);
      assert.deepEqual(settled, [[{ sent: 2, bytes: 9 }]]);
      await until(() => echoes.length === 3);
      assert.deepEqual(echoes.sort(), ["own", "ping", "pong!"]);
    } finally {
      a.close();
      b.close();
      poller.close();
    }
  });

  for (const together of [true, false]) {
    test(`deferred sends of several sessions go out ${together ? "together" : "each on its own (sendTogether off)"}, each from its own session's port with a valid checksum`, { skip }, async () => {
      const poller = new Poller({ sendTogether: together });
      const got: { text: string; port: number }[] = [];
      const settled: number[][] = [];
      const sink = new UdpSocket({
        address: "127.0.0.1",
        port: 0,
        onDatagrams(buf, offsets, lengths, _addrs, ports, count) {
          for (let i = 0; i < count; i++) got.push({ text: buf.toString("latin1", offsets[i]!, offsets[i]! + lengths[i]!), port: ports[i]! });
        },
      });
      const sessions = [0, 1, 2].map(() => new UdpSocket({ address: "127.0.0.1", port: 0, poller, onDatagrams() {} }));
      const returned: number[] = [];
      // One received batch, its packets sent on by three sessions (odd and even lengths: the checksum's two paths).
      const trigger = splitter(poller, (buf, offsets, lengths) => {
        const to = (n: number) => [new Uint32Array(n).fill(LOOPBACK), new Uint16Array(n).fill(sink.port)] as const;
        returned.push(sessions[0]!.sendBatch(buf, offsets.subarray(0, 1), lengths.subarray(0, 1), ...to(1), 1));
        returned.push(sessions[1]!.sendBatch(buf, offsets.subarray(1, 3), lengths.subarray(1, 3), ...to(2), 2));
        returned.push(sessions[2]!.sendBatch(buf, offsets.subarray(3, 4), lengths.subarray(3, 4), ...to(1), 1));
      });
      poller.deferSends((count, sent) => settled.push(Array.from(sent.subarray(0, count))));
      try {
        assert.equal(poller.sendsUdpTogether, together, "as root the raw UDP socket opens, unless turned off");
        sendTo(sink, trigger, "a", "bb", "ccc", "d".repeat(1281));
        poller.wait(100);
        assert.deepEqual(returned, [SEND_DEFERRED, SEND_DEFERRED, SEND_DEFERRED]);
        poller.wait(0);
        assert.deepEqual(settled, [[1, 2, 1]]);
        await until(() => got.length === 4);
        // The kernel drops a datagram whose checksum is wrong: all four arrived, from their sessions' ports.
        assert.deepEqual(
          got.sort((x, y) => x.text.length - y.text.length),
          [
            { text: "a", port: sessions[0]!.port },
            { text: "bb", port: sessions[1]!.port },
            { text: "ccc", port: sessions[1]!.port },
            { text: "d".repeat(1281), port: sessions[2]!.port },
          ],
        );
      } finally {
        for (const sock of [sink, trigger, ...sessions]) sock.close();
        poller.close();
      }
    });
  }

  test("once closed, wait() and opening a channel on it fail with EBADF", () => {
    const poller = new Poller();
    poller.close();
    poller.close();
    assert.throws(() => poller.wait(10), { code: "EBADF" });
    assert.throws(() => receiver(poller, []), { code: "EBADF" });
  });
});

describe("StreamChannel", () => {
  // A TCP connection on loopback: the server's end handed to a channel as the daemon hands it
  // over (a duplicate of Node's fd, then Node's socket destroyed), the client's end a Node socket.
  const connection = async (): Promise<{ fd: number; peer: Socket; close: () => void }> => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
    const peer = connect({ host: "127.0.0.1", port: (server.address() as { port: number }).port });
    peer.on("error", () => {});
    const ours = await accepted;
    await new Promise((resolve) => (peer.connecting ? peer.once("connect", resolve) : resolve(null)));
    const fd = duplicateFd((ours as unknown as { _handle: { fd: number } })._handle.fd);
    ours.destroy();
    server.close();
    return { fd, peer, close: () => peer.destroy() };
  };
  const frame = (...packets: Buffer[]): Buffer => Buffer.concat(packets.flatMap((p) => [Buffer.from([p.length >> 8, p.length & 255]), p]));
  const opened = (poller: Poller, fd: number, got: Buffer[], errors: NodeJS.ErrnoException[], extra: Partial<ConstructorParameters<typeof StreamChannel>[0]> = {}) =>
    new StreamChannel({
      fd,
      what: "tcp test",
      maxPacket: 1500,
      poller,
      onPackets(buf, offsets, lengths, count) {
        for (let i = 0; i < count; i++) got.push(Buffer.from(buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!)));
      },
      onError: (err) => errors.push(err),
      ...extra,
    });
  /** Waits on the poller (which blocks the event loop) in short turns, letting the loop run between them. */
  const pump = async (poller: Poller, until: () => boolean, ms = 3_000): Promise<void> => {
    for (const end = Date.now() + ms; !until() && Date.now() < end; ) {
      poller.wait(20);
      await sleep(1);
    }
  };

  test("packets framed by the peer arrive in batches, the bytes read before the handover first; a reply goes out before any packet", async () => {
    const poller = new Poller();
    const { fd, peer, close } = await connection();
    const got: Buffer[] = [];
    const errors: NodeJS.ErrnoException[] = [];
    const received: Buffer[] = [];
    peer.on("data", (d: Buffer) => received.push(d));
    const early = frame(Buffer.from("early"), Buffer.from("split"));
    const channel = opened(poller, fd, got, errors, { input: early.subarray(0, early.length - 2), output: Buffer.from("+OK attached\r\n") });
    try {
      peer.write(early.subarray(early.length - 2));
      const many = Array.from({ length: 1000 }, (_, i) => Buffer.from(`p${i}`));
      peer.write(frame(...many));
      await pump(poller, () => got.length === 1002);
      assert.deepEqual(got.map(String), ["early", "split", ...many.map(String)], "1000 small packets of one read all arrive, beyond a batch of 64");
      const out = [Buffer.from("to-peer"), Buffer.alloc(1280, 7)];
      const buf = Buffer.concat(out);
      assert.equal(channel.sendBatch(buf, Uint32Array.of(0, 7), Uint32Array.of(7, 1280), new Uint32Array(2), new Uint16Array(2), 2), 2);
      await until(() => Buffer.concat(received).length >= 14 + 2 + 7 + 2 + 1280);
      assert.deepEqual(Buffer.concat(received), Buffer.concat([Buffer.from("+OK attached\r\n"), frame(...out)]));
      assert.deepEqual(errors, []);
    } finally {
      channel.close();
      close();
      poller.close();
    }
  });

  test("a frame longer than the largest packet ends the stream, naming it; the packets before it still arrive", async () => {
    const poller = new Poller();
    const { fd, peer, close } = await connection();
    const got: Buffer[] = [];
    const errors: NodeJS.ErrnoException[] = [];
    const channel = opened(poller, fd, got, errors);
    try {
      peer.write(Buffer.concat([frame(Buffer.from("fine")), Buffer.from([0x06, 0x00]), Buffer.alloc(16)]));
      await pump(poller, () => errors.length > 0);
      assert.deepEqual(got.map(String), ["fine"]);
      assert.equal(errors[0]?.code, "EMSGSIZE");
      assert.match(errors[0]!.message, /tcp test: a packet of 1536 bytes, over the largest of 1500/);
    } finally {
      channel.close();
      close();
      poller.close();
    }
  });

  test("the peer closing ends the stream (EOF), after the packets it sent", async () => {
    const poller = new Poller();
    const { fd, peer } = await connection();
    const got: Buffer[] = [];
    const errors: NodeJS.ErrnoException[] = [];
    const channel = opened(poller, fd, got, errors);
    try {
      peer.end(frame(Buffer.from("last words")));
      await pump(poller, () => errors.length > 0);
      assert.deepEqual(got.map(String), ["last words"]);
      assert.equal(errors[0]?.code, "EOF");
      assert.match(errors[0]!.message, /closed by the peer/);
    } finally {
      channel.close();
      poller.close();
    }
  });

  test("a peer that stops reading: at most 256 KB wait, further packets are dropped, and the backlog says how long nothing went", async () => {
    const poller = new Poller();
    const { fd, peer, close } = await connection();
    const channel = opened(poller, fd, [], []);
    try {
      peer.pause();
      const packets = 64;
      const buf = Buffer.alloc(packets * 1280, 1);
      const offsets = Uint32Array.from({ length: packets }, (_, i) => i * 1280);
      const lengths = new Uint32Array(packets).fill(1280);
      let taken = 0;
      for (let round = 0; round < 400; round++) taken += channel.sendBatch(buf, offsets, lengths, new Uint32Array(packets), new Uint16Array(packets), packets);
      const offered = 400 * packets;
      assert.ok(taken < offered, `${taken} of ${offered} packets taken: the rest dropped`);
      const first = channel.backlog();
      assert.ok(first.bytes > 200_000 && first.bytes <= 256 * 1024, `${first.bytes} bytes wait`);
      await sleep(300);
      const later = channel.backlog();
      assert.ok(later.stalledMs >= 250, `no progress for ${later.stalledMs} ms`);
      peer.resume();
      await pump(poller, () => channel.backlog().bytes === 0);
      assert.deepEqual(channel.backlog(), { bytes: 0, stalledMs: 0 }, "a reader again: the backlog drains");
    } finally {
      channel.close();
      close();
      poller.close();
    }
  });
});

describe("RawSocket41", { skip }, () => {
  test("receives a protocol-41 packet with the IPv4 header stripped and its source", async () => {
    // Another proto-41 socket on this host sees these packets too (and we see its): match a nonce.
    const nonce = randomBytes(16);
    const packet = Buffer.concat([Buffer.from([0x60, 0, 0, 0, 0, 16, 59, 64]), Buffer.alloc(32), nonce]);
    const got: { payload: Buffer; addr: number }[] = [];
    const onPackets = (buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, addrs: Uint32Array, count: number): void => {
      for (let i = 0; i < count; i++) {
        const payload = Buffer.from(buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!));
        if (payload.subarray(-16).equals(nonce)) got.push({ payload, addr: addrs[i]! });
      }
    };
    const any = new RawSocket41({ onPackets });
    const bound = new RawSocket41({ address: "127.0.0.1", onPackets() {} });
    try {
      assert.equal(bound.sendBatch(packet, Uint32Array.of(0), Uint32Array.of(packet.length), Uint32Array.of(LOOPBACK), 1), 1);
      await until(() => got.length >= 1);
      assert.deepEqual(got[0]!.payload, packet);
      assert.equal(uint32ToIpv4(got[0]!.addr), "127.0.0.1");
    } finally {
      any.close();
      bound.close();
    }
  });
});

describe("RawSocket41 source address", { skip }, () => {
  test("a send names its source address: the packets leave from it, not from the one the route would pick", async () => {
    const nonce = randomBytes(16);
    const packet = Buffer.concat([Buffer.from([0x60, 0, 0, 0, 0, 16, 59, 64]), Buffer.alloc(32), nonce]);
    const sources: string[] = [];
    const onPackets = (buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, addrs: Uint32Array, count: number): void => {
      for (let i = 0; i < count; i++) {
        if (Buffer.from(buf.subarray(offsets[i]! + lengths[i]! - 16, offsets[i]! + lengths[i]!)).equals(nonce)) sources.push(uint32ToIpv4(addrs[i]!));
      }
    };
    const any = new RawSocket41({ onPackets });
    try {
      // Unbound, to 127.0.0.1: the route's source would be 127.0.0.1.
      assert.equal(any.sendBatch(packet, Uint32Array.of(0), Uint32Array.of(packet.length), Uint32Array.of(LOOPBACK), 1, ipv4ToUint32("127.0.0.7")), 1);
      assert.equal(any.sendBatch(packet, Uint32Array.of(0), Uint32Array.of(packet.length), Uint32Array.of(LOOPBACK), 1), 1);
      await until(() => sources.length >= 2);
      assert.deepEqual(sources, ["127.0.0.7", "127.0.0.1"]);
    } finally {
      any.close();
    }
  });
});

describe("RawSocket41 in a poller", { skip }, () => {
  for (const together of [true, false]) {
    test(`deferred sends of several sessions go out ${together ? "together" : "each on its own (sendTogether off)"}, each from its own source address`, async () => {
      const nonce = randomBytes(8).toString("hex");
      const got: { text: string; source: string }[] = [];
      const watcher = new RawSocket41({
        onPackets(buf, offsets, lengths, addrs, count) {
          for (let i = 0; i < count; i++) {
            const text = buf.toString("latin1", offsets[i]!, offsets[i]! + lengths[i]!);
            if (text.startsWith(nonce)) got.push({ text, source: uint32ToIpv4(addrs[i]!) });
          }
        },
      });
      const poller = new Poller({ sendTogether: together });
      const settled: number[][] = [];
      const raw41 = new RawSocket41({ poller, onPackets() {} });
      const returned: number[] = [];
      // One received batch, its packets sent on for three sessions with their own sources (the third: the route's).
      const trigger = splitter(poller, (buf, offsets, lengths) => {
        const to = (n: number) => new Uint32Array(n).fill(LOOPBACK);
        returned.push(raw41.sendBatch(buf, offsets.subarray(0, 1), lengths.subarray(0, 1), to(1), 1, ipv4ToUint32("127.0.0.7")));
        returned.push(raw41.sendBatch(buf, offsets.subarray(1, 3), lengths.subarray(1, 3), to(2), 2, ipv4ToUint32("127.0.0.8")));
        returned.push(raw41.sendBatch(buf, offsets.subarray(3, 4), lengths.subarray(3, 4), to(1), 1));
      });
      const sender = new UdpSocket({ address: "127.0.0.1", port: 0, onDatagrams() {} });
      poller.deferSends((count, sent) => settled.push(Array.from(sent.subarray(0, count))));
      try {
        const payloads = ["a", "bb", "ccc", "dddd"].map((x) => `${nonce}${x}`);
        const buf = Buffer.from(payloads.join(""));
        const lengths = Uint32Array.from(payloads, (p) => p.length);
        const offsets = Uint32Array.from(payloads, (_, i) => payloads.slice(0, i).join("").length);
        assert.equal(sender.sendBatch(buf, offsets, lengths, new Uint32Array(4).fill(LOOPBACK), new Uint16Array(4).fill(trigger.port), 4), 4);
        poller.wait(100);
        assert.deepEqual(returned, [SEND_DEFERRED, SEND_DEFERRED, SEND_DEFERRED]);
        assert.deepEqual(settled, [[1, 2, 1]]);
        await until(() => got.length >= 4);
        assert.deepEqual(
          got.sort((x, y) => x.text.length - y.text.length),
          [
            { text: `${nonce}a`, source: "127.0.0.7" },
            { text: `${nonce}bb`, source: "127.0.0.8" },
            { text: `${nonce}ccc`, source: "127.0.0.8" },
            { text: `${nonce}dddd`, source: "127.0.0.1" },
          ],
        );
      } finally {
        for (const c of [trigger, sender, raw41, watcher]) c.close();
        poller.close();
      }
    });
  }
});

describe("TunDevice and capabilities (in a network namespace)", { skip }, () => {
  const ns = `dtcp-native-${process.pid}`;
  // Runs the child script in the namespace, optionally under a wrapper command such as setpriv.
  const child = async (mode: string, wrapper: string[] = []): Promise<Record<string, unknown>> => {
    const { stdout } = await run(
      "ip",
      ["netns", "exec", ns, ...wrapper, process.execPath, "--import", "tsx", CHILD, mode],
      { cwd: REPO, timeout: 20_000 },
    );
    return JSON.parse(stdout) as Record<string, unknown>;
  };

  before(async () => {
    await run("ip", ["netns", "add", ns]);
  });
  after(async () => {
    await run("ip", ["netns", "del", ns]).catch(() => {});
  });

  test("reads a packet routed to the TUN and writes back a reply the kernel delivers", async () => {
    const r = await child("tun");
    assert.equal(r.name, "dtcpt0");
    assert.equal(r.mtu, 1400);
    assert.equal(r.txqlen, 4096);
    assert.equal(r.up, true);
    assert.deepEqual(r.request, {
      src: "fd00d7c9000000000000000000000001",
      dst: "fd00d7c9000000000000000000000002",
      dstPort: 9999,
      payload: "hello through tun",
    });
    assert.equal(r.written, 1);
    assert.deepEqual(r.reply, { payload: "hello through tun", from: "fd00:d7c9::2", port: 9999 });
    assert.equal(r.deletedError, "EBADF");
    assert.equal(r.linkGone, true, "closing the last fd removes the device; the child then exited by itself");
  });

  test("a multi-queue TUN steers each destination to the queue its longest steered prefix names, else queue 0; the map holds what it was sized for and refuses a prefix twice", async () => {
    const r = await child("steer");
    assert.match(String((r.full as { message: string }).message), /steering map: bpf\(BPF_MAP_UPDATE_ELEM\).*(No space left|Argument list too long)/);
    assert.equal((r.duplicate as { code: string }).code, "EEXIST");
    assert.deepEqual(r.queues, [
      ["fd000005000200000000000000000007", "fd000005000300000000000000000001"],
      ["fd000005000100000000000000000009"],
    ]);
  });

  test("drops TUN and protocol-41 packets bigger than a slot, counted; a large-MTU TUN widens the slots", async () => {
    const r = await child("oversize");
    assert.deepEqual(r.tunLengths, [1048], "the 2548-byte packet was not delivered cut");
    assert.equal(r.tunOversized, 1);
    assert.deepEqual(r.rawLengths, [1480], "only the inner packet that fits (2100 + 20 > 2048)");
    assert.equal(r.rawOversized, 1);
    assert.deepEqual(r.bigTunLengths, [3548]);
  });

  test("names the missing capability; UDP still works with capped buffers", async () => {
    const r = await child("nocaps", ["setpriv", "--bounding-set", "-net_admin,-net_raw"]);
    const tun = r.tun as { code: string; message: string };
    const raw = r.raw as { code: string; message: string };
    assert.equal(tun.code, "EPERM");
    assert.match(tun.message, /CAP_NET_ADMIN/);
    assert.equal(raw.code, "EPERM");
    assert.match(raw.message, /CAP_NET_RAW/);
    assert.ok((r.udp as { port?: number }).port! > 0, JSON.stringify(r.udp));
  });
});
