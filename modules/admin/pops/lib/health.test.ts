import assert from "node:assert/strict";
import { test } from "node:test";
import { popHealth, SILENT_AFTER_MS } from "./health.ts";

test("a POP is up while its heartbeat is recent, silent once it stops, and says so when it never started", () => {
  const now = Date.UTC(2026, 11, 2, 12);
  assert.deepEqual(popHealth(new Date(now - 1_000), now), { state: "up", since: now - 1_000 });
  assert.deepEqual(popHealth(new Date(now - SILENT_AFTER_MS), now).state, "up");
  assert.deepEqual(popHealth(new Date(now - SILENT_AFTER_MS - 1), now), { state: "silent", since: now - SILENT_AFTER_MS - 1 });
  assert.deepEqual(popHealth(null, now), { state: "never-started" });
});
