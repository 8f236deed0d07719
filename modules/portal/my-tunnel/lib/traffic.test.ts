import assert from "node:assert/strict";
import { test } from "node:test";
import { hourlyTraffic } from "./traffic.ts";

const now = new Date("2026-11-29T12:30:00Z");
const at = (iso: string) => new Date(iso);

test("24 hourly buckets ending with the current hour", () => {
  const buckets = hourlyTraffic([], now);
  assert.equal(buckets.length, 24);
  assert.equal(buckets[0]?.start.toISOString(), "2026-11-28T13:00:00.000Z");
  assert.equal(buckets[23]?.start.toISOString(), "2026-11-29T12:00:00.000Z");
});

test("a session's bytes are spread over the hours it lasted", () => {
  const [b10, b11] = hourlyTraffic([{ startedAt: at("2026-11-29T10:30:00Z"), endedAt: at("2026-11-29T11:30:00Z"), bytesIn: 1000n, bytesOut: 10n }], now).slice(21, 23);
  assert.deepEqual([b10?.bytesIn, b11?.bytesIn, b10?.bytesOut], [500, 500, 5]);
});

test("a live session counts up to now; older traffic is left out but the sum is kept in range", () => {
  const buckets = hourlyTraffic([{ startedAt: at("2026-11-27T12:30:00Z"), endedAt: null, bytesIn: 4800n, bytesOut: 0n }], now);
  const total = buckets.reduce((sum, b) => sum + b.bytesIn, 0);
  assert.ok(Math.abs(total - 2350) < 1e-6);
  assert.ok(Math.abs((buckets[23]?.bytesIn ?? 0) - 50) < 1e-6);
});

test("an instant session counts in its hour", () => {
  const buckets = hourlyTraffic([{ startedAt: at("2026-11-29T12:00:00Z"), endedAt: at("2026-11-29T12:00:00Z"), bytesIn: 7n, bytesOut: 0n }], now);
  assert.equal(buckets[23]?.bytesIn, 7);
});
