import assert from "node:assert/strict";
import { beforeEach, describe, test } from "node:test";
import { MALFORMED_UNCHARGED, MULTICAST, NO_ROUTE, tunnelStats, UDP_DIVERTED, UNKNOWN_SOURCE } from "./counters.ts";
import { Forwarder } from "./forwarder.ts";
import { ipv4ToUint32, SEND_DEFERRED, SHARED_CUT, uint32ToIpv4 } from "./native.ts";
import type { ClientSocket } from "./session.ts";
import { ipv6Packet, summarize } from "../../test/support/packets.ts";
import type { DropReason, TunnelSpec } from "./types.ts";

const CLIENT = "192.0.2.10";
const STRANGER = "198.51.100.66";
const EXTERNAL = "2001:db8:ee::1";

// A batch laid out as the addon delivers it: packets in slots of one shared buffer.
function batch(packets: Buffer[], from: { addr: string; port?: number }[] = []) {
  const stride = 2048;
  const buf = Buffer.alloc(stride * Math.max(1, packets.length));
  const offsets = new Uint32Array(packets.length);
  const lengths = new Uint32Array(packets.length);
  const addrs = new Uint32Array(packets.length);
  const ports = new Uint16Array(packets.length);
  packets.forEach((p, i) => {
    offsets[i] = i * stride + 16;
    lengths[i] = p.length;
    p.copy(buf, offsets[i]);
    addrs[i] = ipv4ToUint32(from[i]?.addr ?? from[0]?.addr ?? CLIENT);
    ports[i] = from[i]?.port ?? from[0]?.port ?? 0;
  });
  return { buf, offsets, lengths, addrs, ports, count: packets.length };
}

type Sent = { dst: string; addr: string; port: number | null };

class FakeTun {
  readonly calls: string[][] = [];
  refuseFrom = Infinity;
  /** Queue instead of send, as the addon's channels do on a poller that defers sends. */
  defer = false;
  writeBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    const n = Math.min(count, this.refuseFrom);
    this.calls.push(Array.from({ length: n }, (_, i) => summarize(buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!)).src));
    return this.defer ? SEND_DEFERRED : n;
  }
  get packets(): string[] {
    return this.calls.flat();
  }
}

/** A UDP socket (addrs, ports, count) or the protocol-41 socket (addrs, count, source). */
class FakeSender implements ClientSocket {
  readonly calls: Sent[][] = [];
  /** Protocol 41: the source address of each call. */
  readonly sources: string[] = [];
  refuseFrom = Infinity;
  defer = false;
  /** Empty datagrams sent (answers to keepalives), to where. */
  readonly keepalives: string[] = [];
  sendBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, addrs: Uint32Array, ports: Uint16Array | number, last: number): number {
    if (typeof ports !== "number" && last === 1 && lengths[0] === 0) {
      this.keepalives.push(`${uint32ToIpv4(addrs[0]!)}:${ports[0]}`);
      return 1;
    }
    if (typeof ports === "number") this.sources.push(uint32ToIpv4(last));
    const n = Math.min(typeof ports === "number" ? ports : last, this.refuseFrom);
    this.calls.push(
      Array.from({ length: n }, (_, i) => ({
        dst: summarize(buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!)).dst,
        addr: uint32ToIpv4(addrs[i]!),
        port: typeof ports === "number" ? null : ports[i]!,
      })),
    );
    return this.defer ? SEND_DEFERRED : n;
  }
  get packets(): Sent[] {
    return this.calls.flat();
  }
}

function spec(over: Partial<TunnelSpec> & Pick<TunnelSpec, "sessionId">): TunnelSpec {
  return {
    userName: `user${over.sessionId}`,
    type: "host",
    transport: "udp",
    clientIpv4: CLIENT,
    serverIpv4: "203.0.113.1",
    localIpv4: "203.0.113.1",
    clientUdpPort: null,
    serverUdpPort: 4028,
    clientIpv6: `2001:db8:1::${over.sessionId}`,
    serverIpv6: "2001:db8:1::ffff",
    prefix: null,
    mtu: 1280,
    ...over,
  };
}

describe("Forwarder", () => {
  let now: number;
  let tun: FakeTun;
  let raw: FakeSender;
  let fwd: Forwarder;
  const make = (strictOuterSource = true): Forwarder => {
    fwd = new Forwarder({ tun, raw41: raw }, { strictOuterSource, now: () => now });
    return fwd;
  };
  const openUdp = (s: TunnelSpec) => {
    const udp = new FakeSender();
    const session = fwd.open(s, () => udp);
    return { session, udp, stats: () => tunnelStats(session.counters) };
  };
  const openRaw = (s: Omit<TunnelSpec, "transport" | "serverUdpPort">) => {
    const session = fwd.open({ ...s, transport: "proto41", serverUdpPort: null }, () => null);
    return { session, stats: () => tunnelStats(session.counters) };
  };
  const toClient = (...dsts: string[]): void => {
    const b = batch(dsts.map((d) => ipv6Packet(EXTERNAL, d, Buffer.alloc(20))));
    fwd.onTunPackets(b.buf, b.offsets, b.lengths, b.count);
  };
  const drops = (d: Record<DropReason, bigint>): Partial<Record<DropReason, number>> =>
    Object.fromEntries(Object.entries(d).filter(([, n]) => n > 0n).map(([r, n]) => [r, Number(n)]));

  beforeEach(() => {
    now = 1_000_000;
    tun = new FakeTun();
    raw = new FakeSender();
    make();
  });

  describe("UDP, NAT traversal", () => {
    test("sends nothing before the first datagram, then follows its source at once", () => {
      const { session, udp, stats } = openUdp(spec({ sessionId: 1 }));
      toClient("2001:db8:1::1");
      assert.equal(udp.packets.length, 0);
      assert.deepEqual(drops(stats().drops), { noBinding: 1 });
      assert.equal(stats().binding, null);

      now += 5;
      const up = batch([ipv6Packet("2001:db8:1::1", EXTERNAL, Buffer.alloc(10))], [{ addr: CLIENT, port: 40000 }]);
      fwd.onDatagrams(session, up.buf, up.offsets, up.lengths, up.addrs, up.ports, up.count);
      assert.deepEqual(tun.packets, ["2001:db8:1::1"]);
      assert.deepEqual(stats().binding, { address: CLIENT, port: 40000 });
      assert.equal(stats().lastPacketAt, now);
      assert.equal(stats().packetsIn, 1n);
      assert.equal(stats().bytesIn, 50n);

      toClient("2001:db8:1::1");
      assert.deepEqual(udp.packets, [{ dst: "2001:db8:1::1", addr: CLIENT, port: 40000 }]);
      assert.equal(stats().packetsOut, 1n);
      assert.equal(stats().bytesOut, 60n);

      // The NAT rebinds: the next datagram comes from another port, and so does the traffic at once.
      const moved = batch([ipv6Packet("fe80::1", "fe80::2")], [{ addr: CLIENT, port: 40001 }]);
      fwd.onDatagrams(session, moved.buf, moved.offsets, moved.lengths, moved.addrs, moved.ports, moved.count);
      toClient("2001:db8:1::1");
      assert.deepEqual(udp.packets.at(-1), { dst: "2001:db8:1::1", addr: CLIENT, port: 40001 });
    });

    test("a shared socket's datagrams go to the session of the port and address they were sent to, judged as on its own socket", () => {
      const a = openUdp(spec({ sessionId: 1, serverUdpPort: 4028 }));
      const b = openUdp(spec({ sessionId: 2, serverUdpPort: 4029, clientIpv4: STRANGER }));
      const local = ipv4ToUint32("203.0.113.1");
      const packets = [
        ipv6Packet("2001:db8:1::1", EXTERNAL, Buffer.alloc(10)), // a's, from its client
        ipv6Packet("2001:db8:1::2", EXTERNAL, Buffer.alloc(10)), // b's, from its client
        ipv6Packet("2001:db8:1::2", EXTERNAL, Buffer.alloc(10)), // b's address, sent to a's port: spoofed for a
        ipv6Packet("2001:db8:1::1", EXTERNAL, Buffer.alloc(10)), // a port no session has
        ipv6Packet("2001:db8:1::1", EXTERNAL, Buffer.alloc(10)), // a's port on another local address
        Buffer.alloc(0), // b's keepalive from a new NAT port
        Buffer.alloc(0), // too big for its slot (the addon's SHARED_CUT), sent to b's port
      ];
      const from = [
        { addr: CLIENT, port: 40000 },
        { addr: STRANGER, port: 41000 },
        { addr: CLIENT, port: 40000 },
        { addr: CLIENT, port: 40000 },
        { addr: CLIENT, port: 40000 },
        { addr: STRANGER, port: 41001 },
        { addr: STRANGER, port: 41001 },
      ];
      const to = [4028, 4029, 4028, 4030, 4028, 4029, 4029];
      const up = batch(packets, from);
      up.lengths[6] = SHARED_CUT;
      const dsts = new Uint32Array(packets.length).fill(local);
      dsts[4] = ipv4ToUint32("203.0.113.2");
      fwd.onSharedDatagrams(up.buf, up.offsets, up.lengths, up.addrs, up.ports, dsts, Uint16Array.from(to), up.count, 1);
      assert.deepEqual(tun.packets, ["2001:db8:1::1", "2001:db8:1::2"]);
      assert.deepEqual([a.stats().packetsIn, b.stats().packetsIn], [1n, 1n]);
      assert.deepEqual(drops(a.stats().drops), { spoofedSource: 1 });
      assert.deepEqual(drops(b.stats().drops), { malformed: 1 }, "the cut one charged to its session");
      assert.deepEqual(a.stats().binding, { address: CLIENT, port: 40000 });
      assert.deepEqual(b.stats().binding, { address: STRANGER, port: 41001 }, "the keepalive moved b's binding");
      assert.deepEqual(b.udp.keepalives, [`${STRANGER}:41001`], "answered through b's own socket");
      const { totals } = fwd.report();
      assert.equal(totals[UNKNOWN_SOURCE], 2, "the unknown port and the other address");
      assert.equal(totals[MALFORMED_UNCHARGED], 1, "what the addon dropped");
      assert.equal(totals[UDP_DIVERTED], 8, "every datagram the shared socket took");
      // Closed, a session's port is no longer delivered to.
      fwd.close(1);
      fwd.onSharedDatagrams(up.buf, up.offsets, up.lengths, up.addrs, up.ports, dsts, Uint16Array.from(to), 1);
      assert.equal(fwd.report().totals[UNKNOWN_SOURCE], 3);
    });

    test("an empty datagram is a keepalive: binding and time refreshed, nothing written to the TUN, one answered a second", () => {
      const { session, udp, stats } = openUdp(spec({ sessionId: 1 }));
      const ka = batch([Buffer.alloc(0)], [{ addr: CLIENT, port: 50000 }]);
      fwd.onDatagrams(session, ka.buf, ka.offsets, ka.lengths, ka.addrs, ka.ports, ka.count);
      assert.equal(tun.calls.length, 0);
      assert.deepEqual(stats().binding, { address: CLIENT, port: 50000 });
      assert.equal(stats().lastPacketAt, now);
      assert.equal(stats().packetsIn, 0n);
      assert.deepEqual(udp.keepalives, [`${CLIENT}:50000`], "answered, to where it came from");
      now += 500;
      fwd.onDatagrams(session, ka.buf, ka.offsets, ka.lengths, ka.addrs, ka.ports, ka.count);
      assert.equal(udp.keepalives.length, 1, "at most one answer a second");
      now += 600;
      fwd.onDatagrams(session, ka.buf, ka.offsets, ka.lengths, ka.addrs, ka.ports, ka.count);
      assert.equal(udp.keepalives.length, 2);
      const stranger = batch([Buffer.alloc(0)], [{ addr: STRANGER, port: 666 }]);
      now += 2000;
      fwd.onDatagrams(session, stranger.buf, stranger.offsets, stranger.lengths, stranger.addrs, stranger.ports, stranger.count);
      assert.equal(udp.keepalives.length, 2, "a stranger's keepalive gets no answer");
    });

    test("strangers cannot inject or steer: wrong outer source, spoofed and malformed are dropped and counted", () => {
      const { session, udp, stats } = openUdp(spec({ sessionId: 1 }));
      const good = batch([Buffer.alloc(0)], [{ addr: CLIENT, port: 40000 }]);
      fwd.onDatagrams(session, good.buf, good.offsets, good.lengths, good.addrs, good.ports, good.count);
      const bad = batch(
        [
          ipv6Packet("2001:db8:1::1", EXTERNAL), // right source, wrong outer address
          Buffer.alloc(0), // keepalive from a stranger
          ipv6Packet("2001:db8:9::9", EXTERNAL), // spoofed inner source from the client's address
          ipv6Packet("2001:db8:1::2", EXTERNAL), // another session's address
          Buffer.from("not a packet, just text"),
        ],
        [{ addr: STRANGER, port: 666 }, { addr: STRANGER, port: 666 }, { addr: CLIENT, port: 666 }, { addr: CLIENT, port: 666 }, { addr: CLIENT, port: 666 }],
      );
      now += 1000;
      fwd.onDatagrams(session, bad.buf, bad.offsets, bad.lengths, bad.addrs, bad.ports, bad.count);
      assert.equal(tun.calls.length, 0);
      assert.deepEqual(drops(stats().drops), { wrongOuterSource: 2, spoofedSource: 2, malformed: 1 });
      assert.deepEqual(stats().binding, { address: CLIENT, port: 40000 }, "the binding did not move");
      assert.equal(stats().lastPacketAt, now - 1000);
      toClient("2001:db8:1::1");
      assert.equal(udp.packets[0]!.port, 40000);
    });

    test("relaxed outer source: an owned inner source moves the binding to another address; link-local does not", () => {
      make(false);
      const { session, udp, stats } = openUdp(spec({ sessionId: 1 }));
      const pooled = "192.0.2.77";
      const ll = batch([ipv6Packet("fe80::1", "fe80::2"), Buffer.alloc(0)], [{ addr: pooled, port: 1 }]);
      fwd.onDatagrams(session, ll.buf, ll.offsets, ll.lengths, ll.addrs, ll.ports, ll.count);
      assert.equal(stats().binding, null);
      assert.deepEqual(drops(stats().drops), { wrongOuterSource: 2 });

      const owned = batch([ipv6Packet("2001:db8:1::1", EXTERNAL)], [{ addr: pooled, port: 2 }]);
      fwd.onDatagrams(session, owned.buf, owned.offsets, owned.lengths, owned.addrs, owned.ports, owned.count);
      assert.deepEqual(stats().binding, { address: pooled, port: 2 });
      // From the binding's address, keepalives now pass and may move the port.
      const ka = batch([Buffer.alloc(0)], [{ addr: pooled, port: 3 }]);
      fwd.onDatagrams(session, ka.buf, ka.offsets, ka.lengths, ka.addrs, ka.ports, ka.count);
      toClient("2001:db8:1::1");
      assert.deepEqual(udp.packets, [{ dst: "2001:db8:1::1", addr: pooled, port: 3 }]);
      // A spoofed inner source is still refused.
      const spoof = batch([ipv6Packet("2001:db8:9::1", EXTERNAL)], [{ addr: STRANGER, port: 4 }]);
      fwd.onDatagrams(session, spoof.buf, spoof.offsets, spoof.lengths, spoof.addrs, spoof.ports, spoof.count);
      assert.deepEqual(drops(stats().drops), { wrongOuterSource: 2, spoofedSource: 1 });
      assert.deepEqual(stats().binding, { address: pooled, port: 3 });
    });
  });

  describe("UDP, fixed port", () => {
    test("sends to the control address and the given port from the start; datagrams do not move it", () => {
      const { session, udp, stats } = openUdp(spec({ sessionId: 1, clientUdpPort: 4028 }));
      assert.deepEqual(stats().binding, { address: CLIENT, port: 4028 });
      toClient("2001:db8:1::1");
      const up = batch([ipv6Packet("2001:db8:1::1", EXTERNAL), Buffer.alloc(0)], [{ addr: CLIENT, port: 31000 }]);
      fwd.onDatagrams(session, up.buf, up.offsets, up.lengths, up.addrs, up.ports, up.count);
      assert.equal(stats().lastPacketAt, now);
      toClient("2001:db8:1::1");
      assert.deepEqual(udp.packets.map((p) => p.port), [4028, 4028]);
    });
  });

  describe("TCP", () => {
    test("nothing goes to the client before its data connection attaches; then both ways, the inner source checked, an empty frame a keepalive", () => {
      const session = fwd.open(spec({ sessionId: 1, transport: "tcp", serverUdpPort: null }), () => null);
      const stats = () => tunnelStats(session.counters);
      toClient("2001:db8:1::1");
      assert.deepEqual(drops(stats().drops), { noBinding: 1 }, "no data connection yet");
      const stream = new FakeSender();
      fwd.attachStream(session, stream, ipv4ToUint32(CLIENT), 40123);
      assert.deepEqual(stats().binding, { address: CLIENT, port: 40123 });
      toClient("2001:db8:1::1");
      assert.equal(stream.packets.length, 1);
      const up = batch([ipv6Packet("2001:db8:1::1", EXTERNAL), ipv6Packet("2001:db8:9::9", EXTERNAL), Buffer.alloc(0), Buffer.from("not a packet")]);
      now += 1000;
      fwd.onStreamPackets(session, up.buf, up.offsets, up.lengths, up.count);
      assert.deepEqual(tun.packets, ["2001:db8:1::1"], "only the packet from the session's own address reaches the TUN");
      assert.deepEqual(drops(stats().drops), { noBinding: 1, spoofedSource: 1, malformed: 1 });
      assert.equal(stats().lastPacketAt, now);
      assert.deepEqual(stats().binding, { address: CLIENT, port: 40123 }, "the connection's packets never move the binding");
    });
  });

  describe("protocol 41", () => {
    test("both ways; several sessions behind one IPv4 are told apart by inner source", () => {
      const a = openRaw(spec({ sessionId: 1 }));
      const b = openRaw(spec({ sessionId: 2, type: "network", clientIpv6: null, prefix: "2001:db8:100:200::/56" }));
      const up = batch([ipv6Packet("2001:db8:1::1", EXTERNAL), ipv6Packet("2001:db8:100:2ff::9", EXTERNAL), ipv6Packet("fe80::5", "ff02::2")]);
      fwd.onRaw41Packets(up.buf, up.offsets, up.lengths, up.addrs, up.count);
      assert.deepEqual(tun.calls, [["2001:db8:1::1", "fe80::5"], ["2001:db8:100:2ff::9"]], "one write per session");
      assert.equal(a.stats().packetsIn, 2n, "link-local goes to the oldest session of the address");
      assert.equal(b.stats().packetsIn, 1n);
      assert.deepEqual(a.stats().binding, { address: CLIENT, port: null });

      toClient("2001:db8:100:2aa::1", "2001:db8:1::1", "2001:db8:100:2bb::1");
      assert.deepEqual(raw.calls, [
        [{ dst: "2001:db8:100:2aa::1", addr: CLIENT, port: null }, { dst: "2001:db8:100:2bb::1", addr: CLIENT, port: null }],
        [{ dst: "2001:db8:1::1", addr: CLIENT, port: null }],
      ]);
      assert.equal(b.stats().packetsOut, 2n);
    });

    test("packets to each client leave from the address its control connection reached", () => {
      openRaw(spec({ sessionId: 1, localIpv4: "203.0.113.1" }));
      openRaw(spec({ sessionId: 2, clientIpv4: "198.51.100.9", localIpv4: "192.0.2.1" }));
      toClient("2001:db8:1::1", "2001:db8:1::2");
      assert.deepEqual(raw.sources, ["203.0.113.1", "192.0.2.1"]);
    });

    test("spoofed, wrong outer, unknown and malformed packets", () => {
      const a = openRaw(spec({ sessionId: 1 }));
      const up = batch(
        [
          ipv6Packet("2001:db8:9::9", EXTERNAL), // foreign source from the client: spoofed
          ipv6Packet("2001:db8:1::1", EXTERNAL), // the session's source from a stranger
          ipv6Packet("2001:db8:9::9", EXTERNAL), // a stranger, nobody's source
          Buffer.from("garbage from the client"),
          Buffer.from("garbage from a stranger"),
        ],
        [{ addr: CLIENT }, { addr: STRANGER }, { addr: STRANGER }, { addr: CLIENT }, { addr: STRANGER }],
      );
      fwd.onRaw41Packets(up.buf, up.offsets, up.lengths, up.addrs, up.count);
      assert.equal(tun.calls.length, 0);
      assert.deepEqual(drops(a.stats().drops), { spoofedSource: 1, wrongOuterSource: 1, malformed: 1 });
      assert.equal(a.stats().lastPacketAt, null);
      const totals = fwd.report().totals;
      const uncharged = Array.from(totals.subarray(NO_ROUTE, NO_ROUTE + 4));
      assert.deepEqual(uncharged, [0, 1, 1, 0], "noRoute, unknownSource, malformed, keepalives");
    });

    test("an inner source of a UDP session does not make a protocol-41 packet that session's", () => {
      openUdp(spec({ sessionId: 1 }));
      const r = openRaw(spec({ sessionId: 2 }));
      const up = batch([ipv6Packet("2001:db8:1::1", EXTERNAL)]);
      fwd.onRaw41Packets(up.buf, up.offsets, up.lengths, up.addrs, up.count);
      assert.deepEqual(drops(r.stats().drops), { spoofedSource: 1 });
    });

    test("relaxed: the owner's inner source from another address is accepted and moves the binding", () => {
      make(false);
      const a = openRaw(spec({ sessionId: 1 }));
      const up = batch([ipv6Packet("2001:db8:1::1", EXTERNAL)], [{ addr: STRANGER }]);
      fwd.onRaw41Packets(up.buf, up.offsets, up.lengths, up.addrs, up.count);
      assert.deepEqual(tun.packets, ["2001:db8:1::1"]);
      assert.deepEqual(a.stats().binding, { address: STRANGER, port: null });
    });
  });

  describe("tunnelonly", () => {
    test("owns no address: link-local in, globals dropped as spoofed, nothing routed to it", () => {
      const t = openRaw(spec({ sessionId: 1, type: "tunnelonly", clientIpv6: null, serverIpv6: null }));
      const up = batch([ipv6Packet("fe80::1", "fe80::2"), ipv6Packet("2001:db8:77::1", EXTERNAL)]);
      fwd.onRaw41Packets(up.buf, up.offsets, up.lengths, up.addrs, up.count);
      assert.deepEqual(tun.packets, ["fe80::1"]);
      assert.deepEqual(drops(t.stats().drops), { spoofedSource: 1 });
    });
  });

  describe("routes and sessions", () => {
    test("routes exist from open() to close(); then packets have no route", () => {
      const { udp } = openUdp(spec({ sessionId: 1, clientUdpPort: 5000 }));
      toClient("2001:db8:1::1");
      assert.equal(udp.packets.length, 1);
      const final = fwd.close(1);
      assert.equal(final && tunnelStats(final).packetsOut, 1n);
      toClient("2001:db8:1::1");
      assert.equal(udp.packets.length, 1);
      assert.equal(fwd.report().totals[NO_ROUTE], 1, "no route");
      assert.equal(fwd.close(1), null);
    });

    test("longest match across overlapping sessions", () => {
      const wide = openRaw(spec({ sessionId: 1, type: "network", clientIpv6: null, prefix: "2001:db8:100::/48" }));
      const narrow = openRaw(spec({ sessionId: 2, type: "network", clientIpv6: null, prefix: "2001:db8:100:100::/56" }));
      toClient("2001:db8:100:100::1", "2001:db8:100:200::1");
      assert.equal(narrow.stats().packetsOut, 1n);
      assert.equal(wide.stats().packetsOut, 1n);
      fwd.close(2);
      toClient("2001:db8:100:100::1");
      assert.equal(wide.stats().packetsOut, 2n);
    });

    test("an id or a route already in use is refused before the socket is attached", () => {
      openUdp(spec({ sessionId: 1 }));
      let attached = 0;
      assert.throws(() => fwd.open(spec({ sessionId: 1, clientIpv6: "2001:db8:1::99" }), () => (attached++, null)), /already open/);
      assert.throws(() => fwd.open(spec({ sessionId: 2, clientIpv6: "2001:db8:1::1" }), () => (attached++, null)), /routed to session 1/);
      assert.equal(attached, 0);
      assert.throws(() => fwd.open(spec({ sessionId: 3, serverUdpPort: null }), () => null), /without a server port/);
    });

    test("a failing attach leaves nothing behind; slots are reused", () => {
      assert.throws(() => fwd.open(spec({ sessionId: 1 }), () => {
        throw new Error("EADDRINUSE");
      }), /EADDRINUSE/);
      assert.equal(fwd.sessionCount, 0);
      toClient("2001:db8:1::1");
      assert.equal(fwd.report().totals[NO_ROUTE], 1, "no route was added");
      const a = openUdp(spec({ sessionId: 1 }));
      assert.equal(a.session.slot, 0);
      fwd.close(1);
      assert.equal(openUdp(spec({ sessionId: 2 })).session.slot, 0);
    });
  });

  describe("sending", () => {
    test("one send per session per batch; refusals are counted as sendFailed and not as traffic", () => {
      const { session, udp, stats } = openUdp(spec({ sessionId: 1, clientUdpPort: 5000 }));
      udp.refuseFrom = 2;
      toClient("2001:db8:1::1", "2001:db8:1::1", "2001:db8:1::1");
      assert.equal(udp.calls.length, 1);
      assert.equal(stats().packetsOut, 2n);
      assert.equal(stats().bytesOut, 120n);
      assert.deepEqual(drops(stats().drops), { sendFailed: 1 });

      tun.refuseFrom = 0;
      const up = batch([ipv6Packet("2001:db8:1::1", EXTERNAL)], [{ addr: CLIENT, port: 5000 }]);
      fwd.onDatagrams(session, up.buf, up.offsets, up.lengths, up.addrs, up.ports, up.count);
      assert.equal(stats().packetsIn, 0n);
      assert.deepEqual(drops(stats().drops), { sendFailed: 2 });
    });

    test("deferred sends count when settled, each result charged to its session and direction", () => {
      const a = openUdp(spec({ sessionId: 1, clientUdpPort: 5000 }));
      const b = openUdp(spec({ sessionId: 2, clientUdpPort: 5001 }));
      a.udp.defer = b.udp.defer = tun.defer = true;
      toClient("2001:db8:1::1", "2001:db8:1::2", "2001:db8:1::1");
      const up = batch([ipv6Packet("2001:db8:1::2", EXTERNAL)], [{ addr: CLIENT, port: 5001 }]);
      fwd.onDatagrams(b.session, up.buf, up.offsets, up.lengths, up.addrs, up.ports, up.count);
      assert.deepEqual([a.udp.calls.length, b.udp.calls.length, tun.calls.length], [1, 1, 1], "queued, one per session");
      assert.equal(a.stats().packetsOut, 0n, "nothing counted before the results");

      // In the order made: a (2 packets, 1 taken), b (1 taken), b's write to the TUN (refused).
      fwd.settle(3, Uint32Array.of(1, 1, 0), Float64Array.of(60, 60, 0));
      assert.deepEqual([a.stats().packetsOut, a.stats().bytesOut], [1n, 60n]);
      assert.deepEqual(drops(a.stats().drops), { sendFailed: 1 });
      assert.deepEqual([b.stats().packetsOut, b.stats().bytesOut, b.stats().packetsIn], [1n, 60n, 0n]);
      assert.deepEqual(drops(b.stats().drops), { sendFailed: 1 });

      assert.throws(() => fwd.settle(1, Uint32Array.of(1), Float64Array.of(60)), /1 results for 0 deferred sends/);
    });

    test("a session whose socket failed drops its traffic as sendFailed", () => {
      const { session, stats } = openUdp(spec({ sessionId: 1, clientUdpPort: 5000 }));
      session.socket = null;
      toClient("2001:db8:1::1");
      assert.deepEqual(drops(stats().drops), { sendFailed: 1 });
    });

    test("more packets for one session than a batch holds are sent in several calls", () => {
      const { udp } = openUdp(spec({ sessionId: 1, clientUdpPort: 5000 }));
      toClient(...Array.from({ length: 150 }, () => "2001:db8:1::1"));
      assert.deepEqual(udp.calls.map((c) => c.length), [64, 64, 22]);
    });

    test("the host's own multicast on the TUN is counted apart, not as noRoute", () => {
      openUdp(spec({ sessionId: 1, clientUdpPort: 5000 }));
      const b = batch([ipv6Packet("fe80::1", "ff02::16"), ipv6Packet("fe80::1", "ff02::1:ff00:1"), ipv6Packet(EXTERNAL, "2001:db8:9::1")]);
      fwd.onTunPackets(b.buf, b.offsets, b.lengths, b.count);
      const { totals } = fwd.report();
      assert.deepEqual([totals[MULTICAST], totals[NO_ROUTE]], [2, 1]);
    });

    test("non-IPv6 from the TUN is counted and skipped", () => {
      const b = batch([Buffer.from("E\0\0\x14 an IPv4 header")]);
      fwd.onTunPackets(b.buf, b.offsets, b.lengths, b.count);
      assert.equal(fwd.report().totals[MALFORMED_UNCHARGED], 1);
    });

    test("packets the addon dropped as too big for a slot count as malformed", () => {
      const { session, stats } = openUdp(spec({ sessionId: 1, clientUdpPort: 5000 }));
      const up = batch([ipv6Packet("2001:db8:1::1", EXTERNAL)]);
      fwd.onDatagrams(session, up.buf, up.offsets, up.lengths, up.addrs, up.ports, up.count, 2);
      assert.deepEqual(drops(stats().drops), { malformed: 2 });
      assert.deepEqual(tun.packets, ["2001:db8:1::1"], "the rest of the batch is forwarded");
      const none = batch([]);
      fwd.onTunPackets(none.buf, none.offsets, none.lengths, 0, 3);
      fwd.onRaw41Packets(none.buf, none.offsets, none.lengths, none.addrs, 0, 1);
      assert.equal(fwd.report().totals[MALFORMED_UNCHARGED], 4);
    });
  });

  describe("report", () => {
    test("carries changed sessions only, and totals that keep ended sessions' traffic", () => {
      openUdp(spec({ sessionId: 1, clientUdpPort: 5000 }));
      openRaw(spec({ sessionId: 2 }));
      let r = fwd.report();
      assert.deepEqual(Array.from(r.sessions.filter((_, i) => i % 13 === 0)), [1, 2]);
      assert.equal(fwd.report().sessions.length, 0, "nothing changed");
      toClient("2001:db8:1::1");
      r = fwd.report();
      assert.deepEqual([r.sessions[0], r.sessions.length], [1, 13]);
      // proto41 block: [sessions, packetsIn, bytesIn, packetsOut, ...]; udp block follows at 10.
      assert.deepEqual([r.totals[0], r.totals[10], r.totals[10 + 3]], [1, 1, 1]);
      fwd.close(1);
      r = fwd.report();
      assert.deepEqual([r.totals[10], r.totals[10 + 3]], [0, 1], "the ended session's packet stays counted");
    });
  });
});
