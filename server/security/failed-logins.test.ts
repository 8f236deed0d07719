import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { FailedLoginAudit } from "./failed-logins.ts";

const limits = { windowMs: 60_000, maxSources: 3, maxUsersNamed: 2 };

describe("failed-login audit summaries", () => {
  test("the first failure of an address is an entry; the rest of its window one summary, written once the window closes", () => {
    let now = 0;
    const audit = new FailedLoginAudit(limits, () => now);
    assert.equal(audit.record({ source: "a", user: "x", reason: "wrong response" }), "entry");
    now = 1_000;
    assert.equal(audit.record({ source: "a", user: "x", reason: "wrong response" }), "counted");
    assert.equal(audit.record({ source: "a", user: "y", reason: "unknown user" }), "counted");
    assert.equal(audit.record({ source: "a", user: "z", reason: "unknown user" }), "counted");
    assert.deepEqual(audit.take(), [], "the window is still open");
    now = 60_000;
    const [summary] = audit.take();
    assert.deepEqual(summary, {
      source: "a",
      attempts: 3,
      users: { x: 1, y: 1 },
      otherUsers: 1,
      reasons: { "wrong response": 1, "unknown user": 2 },
      firstAt: new Date(1_000),
      lastAt: new Date(1_000),
    });
    assert.equal(audit.size, 0);
    assert.equal(audit.record({ source: "a", user: "x", reason: "wrong response" }), "entry", "a new window");
  });

  test("a lone failure leaves no summary; past the address limit the oldest window closes early", () => {
    let now = 0;
    const audit = new FailedLoginAudit(limits, () => now);
    audit.record({ source: "a", user: "x", reason: "r" });
    audit.record({ source: "a", user: "x", reason: "r" });
    for (const source of ["b", "c", "d"]) audit.record({ source, user: "x", reason: "r" });
    assert.equal(audit.size, 3);
    now = 1;
    assert.deepEqual(audit.take().map((s) => [s.source, s.attempts]), [["a", 1]], "a's window was closed to make room");
    assert.deepEqual(audit.take(true), [], "b, c and d had one failure each");
  });

  test("whatever the sequence, entries and summaries account for every failure, and memory stays bounded", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom("a", "b", "c", "d", "e"), fc.constantFrom("u", "v", "w"), fc.integer({ min: 0, max: 30_000 })), { maxLength: 300 }), (events) => {
        let now = 0;
        const audit = new FailedLoginAudit(limits, () => now);
        let entries = 0;
        let summarised = 0;
        for (const [source, user, step] of events) {
          now += step;
          if (audit.record({ source, user, reason: "r" }) === "entry") entries++;
          assert.ok(audit.size <= limits.maxSources);
          for (const s of audit.take()) summarised += s.attempts;
        }
        for (const s of audit.take(true)) {
          summarised += s.attempts;
          assert.ok(Object.keys(s.users).length <= limits.maxUsersNamed);
        }
        assert.equal(entries + summarised, events.length);
      }),
    );
  });
});
