import assert from "node:assert/strict";
import { test } from "node:test";
import { LoginRate } from "./login-rate.ts";

test("a user logs in `burst` times back to back, then once per refill interval; others are not held back", () => {
  let now = 0;
  const rate = new LoginRate({ burst: 3, refillMs: 6_000 }, () => now);
  assert.deepEqual([rate.take("a"), rate.take("a"), rate.take("a")], [0, 0, 0]);
  assert.equal(rate.take("a"), 6_000);
  assert.equal(rate.take("b"), 0, "another user");
  now = 3_000;
  assert.equal(rate.take("a"), 3_000);
  now = 6_000;
  assert.equal(rate.take("a"), 0);
  assert.equal(rate.take("a"), 6_000);
});

test("full buckets are forgotten by sweep, so memory is held only by users logging in often", () => {
  let now = 0;
  const rate = new LoginRate({ burst: 2, refillMs: 1_000 }, () => now);
  for (const user of ["a", "b", "c"]) rate.take(user);
  assert.equal(rate.size, 3);
  now = 500;
  rate.sweep();
  assert.equal(rate.size, 3);
  now = 1_000;
  rate.sweep();
  assert.equal(rate.size, 0);
  assert.throws(() => new LoginRate({ burst: 0, refillMs: 1 }), RangeError);
});
