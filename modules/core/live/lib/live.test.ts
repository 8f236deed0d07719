import assert from "node:assert/strict";
import { test } from "node:test";
import type { LiveRow } from "@/server/api/live.ts";
import { applyLiveMessage, claimedAddress, reconnectDelayMs, seenAddress } from "./rows.ts";

const row = (sessionId: number, extra: Partial<LiveRow> = {}): LiveRow => ({
  sessionId,
  user: `u${sessionId}`,
  type: "tunnelonly",
  transport: "udp",
  clientIpv4: "192.0.2.1",
  clientUdpPort: null,
  serverUdpPort: 4028,
  clientIpv6: null,
  prefix: null,
  startedAt: 0,
  binding: null,
  bindingDiffers: false,
  lastPacketAt: null,
  bytesIn: 0,
  bytesOut: 0,
  packetsIn: 0,
  packetsOut: 0,
  rateIn: 0,
  rateOut: 0,
  ...extra,
});

test("a snapshot replaces the rows; diffs add, change and remove by session id", () => {
  let rows = applyLiveMessage([row(9)], { type: "snapshot", rows: [row(3), row(1)], at: 0 });
  assert.deepEqual(rows.map((r) => r.sessionId), [1, 3]);
  rows = applyLiveMessage(rows, { type: "diff", added: [row(2)], changed: [row(3, { bytesIn: 5 })], removed: [1], at: 1 });
  assert.deepEqual(rows.map((r) => [r.sessionId, r.bytesIn]), [[2, 0], [3, 5]]);
  const same = applyLiveMessage(rows, { type: "ping" });
  assert.equal(same, rows);
});

test("addresses: the binding when known, else what the client claimed", () => {
  assert.equal(seenAddress(row(1)), "192.0.2.1");
  assert.equal(seenAddress(row(1, { clientUdpPort: 4028 })), "192.0.2.1:4028");
  assert.equal(seenAddress(row(1, { binding: { address: "198.51.100.7", port: 61000 } })), "198.51.100.7:61000");
  assert.equal(seenAddress(row(1, { transport: "proto41", binding: { address: "192.0.2.1", port: null } })), "192.0.2.1");
  assert.equal(claimedAddress(row(1, { clientUdpPort: 5000 })), "192.0.2.1:5000");
});

test("reconnection: 1 s doubling to 30 s, 75–100 % of that", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 40].map((a) => reconnectDelayMs(a, () => 1)), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  assert.equal(reconnectDelayMs(0, () => 0), 750);
  for (let i = 0; i < 100; i++) {
    const d = reconnectDelayMs(3);
    assert.ok(d >= 6000 && d <= 8000, String(d));
  }
});
