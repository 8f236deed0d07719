import assert from "node:assert/strict";
import { test } from "node:test";
import { AbuseGuard } from "./abuse.ts";

const limits = { maxUnauthenticatedPerAddress: 2, freeFailures: 2, failureDelayBaseMs: 100, failureDelayMaxMs: 350, failureMemoryMs: 1_000 };

function guard() {
  let now = 0;
  const g = new AbuseGuard(limits, () => now);
  return { g, advance: (ms: number) => (now += ms) };
}

test("unauthenticated connections are counted per address and released", () => {
  const { g } = guard();
  assert.deepEqual(g.admit("a"), { admitted: true, report: false });
  assert.deepEqual(g.admit("a"), { admitted: true, report: false });
  assert.deepEqual(g.admit("a"), { admitted: false, report: true });
  assert.deepEqual(g.admit("a"), { admitted: false, report: false }, "reported once a minute only");
  assert.equal(g.admit("b").admitted, true);
  g.release("a");
  assert.equal(g.admit("a").admitted, true);
});

test("refusals are reported again after a minute", () => {
  const { g, advance } = guard();
  g.admit("a");
  g.admit("a");
  assert.equal(g.admit("a").report, true);
  advance(60_000);
  assert.equal(g.admit("a").report, true);
});

test("delays grow per address and per user, capped, and are forgotten", () => {
  const { g, advance } = guard();
  const delays = [];
  for (let i = 0; i < 6; i++) {
    delays.push(g.delayMs("1.2.3.4", "alice"));
    g.recordFailure("1.2.3.4", "alice");
  }
  assert.deepEqual(delays, [0, 0, 100, 200, 350, 350]);
  assert.equal(g.delayMs("5.6.7.8", "alice"), 350, "the user's count follows them to another address");
  assert.equal(g.delayMs("1.2.3.4", "bob"), 350, "the address's count applies to any user");
  assert.equal(g.delayMs("5.6.7.8", "bob"), 0);
  advance(1_000);
  assert.equal(g.delayMs("1.2.3.4", "alice"), 0);
});

test("a success clears the address and the user", () => {
  const { g } = guard();
  for (let i = 0; i < 4; i++) g.recordFailure("1.2.3.4", "alice");
  g.recordSuccess("1.2.3.4", "alice");
  assert.equal(g.delayMs("1.2.3.4", "alice"), 0);
});

test("sweep drops forgotten entries", () => {
  const { g, advance } = guard();
  g.recordFailure("1.2.3.4", "alice");
  advance(1_000);
  g.sweep();
  assert.deepEqual(g.recordFailure("1.2.3.4", "alice"), { addressFailures: 1, userFailures: 1 });
});
