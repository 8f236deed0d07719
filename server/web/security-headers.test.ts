import assert from "node:assert/strict";
import { test } from "node:test";
import { contentSecurityPolicy, FIXED_SECURITY_HEADERS } from "./security-headers.ts";

test("scripts need the nonce, nothing may frame the app, forms and connections stay on its origin", () => {
  const policy = contentSecurityPolicy("AAAAAAAAAAAAAAAAAAAAAAAA");
  const directives = new Map(policy.split("; ").map((d) => [d.split(" ")[0]!, d.split(" ").slice(1)]));
  assert.deepEqual(directives.get("script-src"), ["'self'", "'nonce-AAAAAAAAAAAAAAAAAAAAAAAA'", "'strict-dynamic'"]);
  assert.ok(!policy.includes("unsafe-eval"));
  assert.ok(!directives.get("script-src")!.includes("'unsafe-inline'"));
  assert.deepEqual(directives.get("frame-ancestors"), ["'none'"]);
  assert.deepEqual(directives.get("form-action"), ["'self'"]);
  assert.deepEqual(directives.get("object-src"), ["'none'"]);
  assert.deepEqual(directives.get("base-uri"), ["'none'"]);
  assert.deepEqual(directives.get("connect-src"), ["'self'"]);
  assert.equal(FIXED_SECURITY_HEADERS["X-Frame-Options"], "DENY");
  assert.equal(FIXED_SECURITY_HEADERS["X-Content-Type-Options"], "nosniff");
});

test("a nonce that could break out of the policy is refused", () => {
  assert.throws(() => contentSecurityPolicy("abc"), /nonce/);
  assert.throws(() => contentSecurityPolicy("AAAAAAAAAAAAAAAAAAAA'; script-src *"), /nonce/);
});
