import assert from "node:assert/strict";
import { test } from "node:test";
import { LoginThrottle, MAX_TRACKED_KEYS, type Reservation } from "./login-throttle.ts";

const limits = { freeFailures: 2, failureDelayBaseMs: 100, failureDelayMaxMs: 350, failureMemoryMs: 1_000 };

function throttle() {
  let now = 0;
  const t = new LoginThrottle(limits, () => now);
  return { t, advance: (ms: number) => (now += ms), at: () => now };
}

function ok(r: Reservation) {
  assert.ok(r.ok, "expected the check to be allowed");
  return r;
}

/** A failed check made right after its wait; returns the wait. */
function failOnce(t: LoginThrottle, advance: (ms: number) => void, address: string, user: string): number {
  const r = ok(t.reserve(address, user));
  advance(r.waitMs);
  r.ticket.failed();
  return r.waitMs;
}

test("sequential failures wait longer and longer, capped, per address and per user", () => {
  const { t, advance } = throttle();
  const waits = [];
  for (let i = 0; i < 6; i++) waits.push(failOnce(t, advance, "1.2.3.4", "alice"));
  assert.deepEqual(waits, [0, 0, 100, 200, 350, 350]);
  assert.equal(ok(t.reserve("5.6.7.8", "alice")).waitMs, 350, "the user's count follows them to another address");
  assert.equal(ok(t.reserve("1.2.3.4", "bob")).waitMs, 350, "the address's count applies to any user");
});

test("parallel guesses are spread out as sequential ones are, and the surplus is refused unchecked", () => {
  const { t } = throttle();
  const reservations = Array.from({ length: 8 }, () => t.reserve("1.2.3.4", "alice"));
  const allowed = reservations.filter((r) => r.ok);
  assert.deepEqual(
    allowed.map((r) => r.waitMs),
    [0, 0, 100, 300],
    "each waiting guess counts as a failure until its verdict comes",
  );
  assert.equal(reservations.filter((r) => !r.ok).length, 4, "past the longest delay, attempts are refused without a check");
  const refused = reservations.find((r) => !r.ok);
  assert.ok(refused && !refused.ok && refused.retryAfterMs > 0);
});

test("parallel guesses over many user names from one address are throttled by the address", () => {
  const { t } = throttle();
  const waits = ["a", "b", "c", "d", "e"].map((u) => t.reserve("1.2.3.4", u)).map((r) => (r.ok ? r.waitMs : -1));
  assert.deepEqual(waits, [0, 0, 100, 300, -1]);
});

test("logging in to one's own account does not wipe the address's failures for other names", () => {
  const { t, advance } = throttle();
  for (const user of ["bob", "carol", "dave"]) failOnce(t, advance, "1.2.3.4", user);
  advance(1_000 - 1);
  const own = ok(t.reserve("1.2.3.4", "mallory"));
  advance(own.waitMs);
  own.ticket.succeeded();
  assert.ok(ok(t.reserve("1.2.3.4", "erin")).waitMs > 0, "the next name guessed from that address still waits");
});

test("a user's own typos are forgiven to the address once they get it right", () => {
  const { t, advance } = throttle();
  for (let i = 0; i < 3; i++) failOnce(t, advance, "1.2.3.4", "alice");
  const right = ok(t.reserve("1.2.3.4", "alice"));
  advance(right.waitMs);
  right.ticket.succeeded();
  assert.equal(ok(t.reserve("1.2.3.4", "alice")).waitMs, 0);
  assert.equal(ok(t.reserve("1.2.3.4", "bob")).waitMs, 0);
});

test("failures are forgotten after the memory time; an abandoned check counts nothing", () => {
  const { t, advance } = throttle();
  for (let i = 0; i < 4; i++) failOnce(t, advance, "1.2.3.4", "alice");
  advance(1_000);
  assert.equal(ok(t.reserve("1.2.3.4", "alice")).waitMs, 0);
  const { t: t2 } = throttle();
  for (let i = 0; i < 5; i++) ok(t2.reserve("9.9.9.9", "zed")).ticket.abandoned();
  assert.equal(ok(t2.reserve("9.9.9.9", "zed")).waitMs, 0);
});

test("a ticket takes one verdict", () => {
  const { t } = throttle();
  const r = ok(t.reserve("1.2.3.4", "alice"));
  r.ticket.failed();
  assert.throws(() => r.ticket.succeeded(), /one verdict/);
});

test("successful checks leave nothing behind to remember", () => {
  const { t } = throttle();
  for (let i = 0; i < 1_000; i++) ok(t.reserve(`10.1.${i >> 8}.${i & 255}`, `user${i}`)).ticket.succeeded();
  assert.equal(t.size, 0);
});

test("memory is bounded: sweeping drops idle keys, and no kind holds more than the cap", () => {
  const { t, advance } = throttle();
  for (let i = 0; i < 100; i++) failOnce(t, advance, `10.0.0.${i}`, `u${i}`);
  assert.equal(t.size, 300);
  advance(1_000);
  t.sweep();
  assert.equal(t.size, 0);
  for (let i = 0; i < MAX_TRACKED_KEYS + 10; i++) {
    const r = t.reserve(`a${i}`, `u${i}`);
    if (r.ok) r.ticket.failed();
  }
  assert.ok(t.size <= 3 * MAX_TRACKED_KEYS);
});
