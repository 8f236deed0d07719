import assert from "node:assert/strict";
import { test } from "node:test";
import { RefusalReports } from "./abuse.ts";

test("refusals of one address are reported once a minute; a flood of addresses keeps the memory bounded", () => {
  let now = 0;
  const reports = new RefusalReports(() => now);
  assert.equal(reports.due("192.0.2.1"), true);
  assert.equal(reports.due("192.0.2.1"), false, "once a minute only");
  now += 60_000;
  assert.equal(reports.due("192.0.2.1"), true);
  for (let i = 0; i < 50_000; i++) reports.due(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
  assert.ok(reports.size <= 10_000, `${reports.size} addresses remembered`);
  now += 60_000;
  reports.sweep();
  assert.equal(reports.size, 0);
});
