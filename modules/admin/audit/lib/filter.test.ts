import assert from "node:assert/strict";
import { test } from "node:test";
import { auditFilter, auditHref, parseAuditQuery } from "./filter.ts";

test("malformed parameters are ignored, good ones kept", () => {
  const q = parseAuditQuery({ actor: " web:alice ", action: ["user.", "x"], from: "2026-11-01", to: "yesterday", before: "-3" });
  assert.deepEqual(q, { actor: "web:alice", action: "user.", target: undefined, from: "2026-11-01", to: undefined, before: undefined });
});

test("dates are whole UTC days with the end day included", () => {
  const f = auditFilter(parseAuditQuery({ from: "2026-11-01", to: "2026-11-02", before: "40" }));
  assert.equal(f.from?.toISOString(), "2026-11-01T00:00:00.000Z");
  assert.equal(f.to?.toISOString(), "2026-11-03T00:00:00.000Z");
  assert.equal(f.beforeId, 40);
  assert.equal(f.limit, 51);
});

test("page links keep the filters", () => {
  const q = parseAuditQuery({ action: "pool.", target: "2001:db8::/32" });
  assert.equal(auditHref(q, 10), "/admin/audit?action=pool.&target=2001%3Adb8%3A%3A%2F32&before=10");
  assert.equal(auditHref(parseAuditQuery({}), undefined), "/admin/audit");
});
