import assert from "node:assert/strict";
import { test } from "node:test";
import { addPoolForm, utilisation } from "./schemas.ts";

test("the prefix length is optional, takes a leading slash and refuses junk", () => {
  const base = { cidr: "2001:db8::/40", purpose: "delegation", autoDelegate: false };
  assert.equal(addPoolForm.parse({ ...base, prefixLength: "" }).prefixLength, undefined);
  assert.equal(addPoolForm.parse({ ...base, prefixLength: "/48" }).prefixLength, 48);
  assert.equal(addPoolForm.safeParse({ ...base, prefixLength: "4.5" }).success, false);
  assert.equal(addPoolForm.safeParse({ ...base, prefixLength: "129" }).success, false);
  assert.equal(addPoolForm.safeParse({ ...base, purpose: "other", prefixLength: "" }).success, false);
});

test("utilisation in percent, exact for huge pools", () => {
  assert.equal(utilisation(1, 4n), 25);
  assert.equal(utilisation(0, 2n ** 64n), 0);
  assert.equal(utilisation(1, 3n), 33.33);
  assert.equal(utilisation(0, 0n), 100);
});
