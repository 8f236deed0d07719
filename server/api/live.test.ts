import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { LiveSessionView } from "../broker/broker.ts";
import type { TunnelStats } from "../dataplane/types.ts";
import { bindingDiffers, diffRows, isEmptyDiff, LiveSampler, parseClientMessage, visibleTo, type LiveRow } from "./live.ts";

const STARTED = Date.UTC(2026, 10, 29, 12);

function view(id: number, extra: Partial<LiveSessionView> = {}): LiveSessionView {
  return {
    id,
    userId: id,
    userName: `user${id}`,
    type: "host",
    transport: "udp",
    clientIpv4: "198.51.100.7",
    serverIpv4: "192.0.2.1",
    clientUdpPort: null,
    serverUdpPort: 4028 + id,
    clientIpv6: "2001:db8:ffff::2",
    serverIpv6: "2001:db8:ffff::1",
    prefix: null,
    startedAt: new Date(STARTED),
    stats: null,
    ...extra,
  };
}

function stats(bytesIn: number, bytesOut: number, extra: Partial<TunnelStats> = {}): TunnelStats {
  return {
    bytesIn: BigInt(bytesIn),
    bytesOut: BigInt(bytesOut),
    packetsIn: BigInt(Math.ceil(bytesIn / 100)),
    packetsOut: BigInt(Math.ceil(bytesOut / 100)),
    drops: { spoofedSource: 0n, wrongOuterSource: 0n, malformed: 0n, noBinding: 0n, sendFailed: 0n },
    lastPacketAt: null,
    binding: null,
    ...extra,
  };
}

describe("live rows", () => {
  it("carry the session, its traffic and binding as JSON numbers and epoch ms", () => {
    const sampler = new LiveSampler();
    const [row] = sampler.sample(
      [
        view(7, {
          userName: "alice",
          type: "network",
          clientUdpPort: 40000,
          prefix: "2001:db8:100::/56",
          clientIpv6: null,
          stats: stats(1500, 3000, { lastPacketAt: STARTED + 5000, binding: { address: "203.0.113.9", port: 61000 } }),
        }),
      ],
      STARTED + 6000,
    );
    assert.deepEqual(row, {
      sessionId: 7,
      user: "alice",
      type: "network",
      transport: "udp",
      clientIpv4: "198.51.100.7",
      clientUdpPort: 40000,
      serverUdpPort: 4035,
      clientIpv6: null,
      prefix: "2001:db8:100::/56",
      startedAt: STARTED,
      binding: { address: "203.0.113.9", port: 61000 },
      bindingDiffers: true,
      lastPacketAt: STARTED + 5000,
      bytesIn: 1500,
      bytesOut: 3000,
      packetsIn: 15,
      packetsOut: 30,
      rateIn: 0,
      rateOut: 0,
    });
    assert.doesNotThrow(() => JSON.stringify(row));
  });

  it("without figures from the data plane show zeros and no binding", () => {
    const [row] = new LiveSampler().sample([view(1)], STARTED);
    assert.deepEqual(
      [row?.binding, row?.bindingDiffers, row?.lastPacketAt, row?.bytesIn, row?.packetsOut, row?.rateIn],
      [null, false, null, 0, 0, 0],
    );
  });

  it("are ordered by session id", () => {
    const rows = new LiveSampler().sample([view(3), view(1), view(2)], STARTED);
    assert.deepEqual(
      rows.map((r) => r.sessionId),
      [1, 2, 3],
    );
  });
});

describe("rates", () => {
  it("are bytes per second each way since the sample a window earlier", () => {
    const sampler = new LiveSampler(1000);
    sampler.sample([view(1, { stats: stats(0, 0) })], 0);
    const [row] = sampler.sample([view(1, { stats: stats(5000, 1000) })], 1000);
    assert.deepEqual([row?.rateIn, row?.rateOut], [5000, 1000]);
  });

  it("stay steady when figures move once a second and are sampled twice a second", () => {
    const sampler = new LiveSampler(1000);
    const seen: number[] = [];
    // 8 kB/s in, refreshed by the data plane at 200 ms past every second.
    for (let at = 0; at <= 10_000; at += 500) {
      const bytes = 8000 * Math.floor((at - 200) / 1000 + 1);
      const [row] = sampler.sample([view(1, { stats: stats(Math.max(bytes, 0), 0) })], at);
      if (at >= 1000) seen.push(row!.rateIn);
    }
    assert.deepEqual(new Set(seen), new Set([8000]));
  });

  it("fall to zero when the traffic stops", () => {
    const sampler = new LiveSampler(1000);
    sampler.sample([view(1, { stats: stats(0, 0) })], 0);
    sampler.sample([view(1, { stats: stats(4000, 0) })], 500);
    sampler.sample([view(1, { stats: stats(4000, 0) })], 1000);
    const [row] = sampler.sample([view(1, { stats: stats(4000, 0) })], 1500);
    assert.equal(row?.rateIn, 0);
  });

  it("start afresh for a session that went away, and after reset()", () => {
    const sampler = new LiveSampler(1000);
    sampler.sample([view(1, { stats: stats(0, 0) })], 0);
    sampler.sample([], 500);
    assert.equal(sampler.sample([view(1, { stats: stats(9000, 0) })], 1000)[0]?.rateIn, 0);
    sampler.reset();
    assert.equal(sampler.sample([view(1, { stats: stats(99_000, 0) })], 60_000)[0]?.rateIn, 0);
  });
});

describe("bindingDiffers", () => {
  const claimed = (clientIpv4: string, clientUdpPort: number | null) => ({ clientIpv4, clientUdpPort });
  it("compares the NAT binding with the control address and the claimed port", () => {
    const cases: [ReturnType<typeof claimed>, { address: string; port: number | null } | null, boolean][] = [
      [claimed("198.51.100.7", null), null, false],
      [claimed("198.51.100.7", null), { address: "198.51.100.7", port: 51234 }, false],
      [claimed("198.51.100.7", null), { address: "203.0.113.9", port: 51234 }, true],
      [claimed("198.51.100.7", 4028), { address: "198.51.100.7", port: 4028 }, false],
      [claimed("198.51.100.7", 4028), { address: "198.51.100.7", port: 61000 }, true],
      [claimed("198.51.100.7", 4028), { address: "203.0.113.9", port: 4028 }, true],
      [claimed("198.51.100.7", null), { address: "198.51.100.7", port: null }, false],
      [claimed("198.51.100.7", null), { address: "203.0.113.9", port: null }, true],
    ];
    for (const [c, binding, expected] of cases) assert.equal(bindingDiffers(c, binding), expected, JSON.stringify([c, binding]));
  });
});

describe("viewers", () => {
  it("see every row as admins and their own rows as users", () => {
    const rows = new LiveSampler().sample([view(1, { userName: "alice" }), view(2, { userName: "bob" }), view(3, { userName: "alice" })], STARTED);
    assert.equal(visibleTo(rows, { name: "carol", role: "admin" }).length, 3);
    assert.deepEqual(
      visibleTo(rows, { name: "alice", role: "user" }).map((r) => r.sessionId),
      [1, 3],
    );
    assert.deepEqual(visibleTo(rows, { name: "dave", role: "user" }), []);
  });
});

describe("diffRows", () => {
  const rows = (sessions: LiveSessionView[]) => new LiveSampler().sample(sessions, STARTED);

  it("names added, changed and removed rows", () => {
    const before = rows([view(1), view(2, { stats: stats(100, 0) }), view(3)]);
    const after = rows([view(2, { stats: stats(200, 0) }), view(3), view(4)]);
    const diff = diffRows(before, after);
    assert.deepEqual(
      diff.added.map((r) => r.sessionId),
      [4],
    );
    assert.deepEqual(
      diff.changed.map((r) => [r.sessionId, r.bytesIn]),
      [[2, 200]],
    );
    assert.deepEqual(diff.removed, [1]);
    assert.equal(isEmptyDiff(diff), false);
  });

  it("is empty between equal snapshots, and sees a moved binding", () => {
    const a = rows([view(1, { stats: stats(0, 0, { binding: { address: "198.51.100.7", port: 1 } }) })]);
    assert.ok(isEmptyDiff(diffRows(a, rows([view(1, { stats: stats(0, 0, { binding: { address: "198.51.100.7", port: 1 } }) })]))));
    const moved = diffRows(a, rows([view(1, { stats: stats(0, 0, { binding: { address: "198.51.100.7", port: 2 } }) })]));
    assert.deepEqual(
      moved.changed.map((r) => r.binding),
      [{ address: "198.51.100.7", port: 2 }],
    );
    assert.deepEqual(diffRows(a, rows([view(1)])).changed.length, 1, "binding lost");
  });

  it("applied to the earlier snapshot gives the later one", () => {
    const snapshot = fc
      .uniqueArray(fc.record({ id: fc.integer({ min: 1, max: 20 }), bytes: fc.integer({ min: 0, max: 1000 }) }), { selector: (s) => s.id, maxLength: 10 })
      .map((sessions) => rows(sessions.map((s) => view(s.id, { stats: stats(s.bytes, 0) }))));
    fc.assert(
      fc.property(snapshot, snapshot, (before, after) => {
        const diff = diffRows(before, after);
        const byId = new Map<number, LiveRow>(before.map((r) => [r.sessionId, r]));
        for (const id of diff.removed) byId.delete(id);
        for (const r of [...diff.added, ...diff.changed]) byId.set(r.sessionId, r);
        assert.deepEqual(
          [...byId.values()].sort((a, b) => a.sessionId - b.sessionId),
          after,
        );
        assert.equal(isEmptyDiff(diff), JSON.stringify(before) === JSON.stringify(after));
      }),
    );
  });
});

describe("parseClientMessage", () => {
  it("knows kick and pong, nothing else", () => {
    assert.deepEqual(parseClientMessage('{"type":"kick","sessionId":12}'), { type: "kick", sessionId: 12 });
    assert.deepEqual(parseClientMessage('{"type":"pong"}'), { type: "pong" });
    for (const text of ["", "kick 12", "[]", '{"type":"kick"}', '{"type":"kick","sessionId":"12"}', '{"type":"kick","sessionId":-1}', '{"type":"kick","sessionId":1.5}', '{"type":"end"}']) {
      assert.equal(parseClientMessage(text), null, text);
    }
  });
});
