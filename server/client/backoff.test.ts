import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, reconnectDelay, STABLE_SESSION_MS } from "./backoff.ts";

test("doubles from 1 s and stays at 120 s; jitter takes off at most a quarter", () => {
  const top = Array.from({ length: 10 }, (_, i) => reconnectDelay(i, () => 1));
  assert.deepEqual(top, [1000, 2000, 4000, 8000, 16000, 32000, 64000, 120000, 120000, 120000]);
  assert.deepEqual([0, 7, 1000].map((i) => reconnectDelay(i, () => 0)), [750, 90000, 90000]);
});

test("resets after a stable session, not after a short one or none", () => {
  const b = new Backoff(() => 1);
  assert.deepEqual([b.next(null), b.next(5_000), b.next(null)], [1000, 2000, 4000]);
  assert.equal(b.next(STABLE_SESSION_MS - 1), 8000);
  assert.equal(b.next(STABLE_SESSION_MS), 1000);
  assert.equal(b.next(null), 2000);
  b.reset();
  assert.equal(b.next(null), 1000);
});
