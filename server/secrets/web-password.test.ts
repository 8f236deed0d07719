import assert from "node:assert/strict";
import { test } from "node:test";
import { generateWebPassword, hashWebPassword, verifyWebPassword, webPasswordSchema } from "./web-password.ts";

test("an argon2id hash verifies its password and nothing else", async () => {
  const hash = await hashWebPassword("correct horse battery");
  assert.match(hash, /^\$argon2id\$/);
  assert.equal(await verifyWebPassword(hash, "correct horse battery"), true);
  assert.equal(await verifyWebPassword(hash, "correct horse batterY"), false);
});

test("no hash (unknown user, no web password) never verifies", async () => {
  assert.equal(await verifyWebPassword(null, "anything at all"), false);
});

test("a malformed hash does not throw", async () => {
  assert.equal(await verifyWebPassword("not a hash", "anything at all"), false);
});

test("web passwords have 12 to 256 characters; generated ones pass", () => {
  assert.equal(webPasswordSchema.safeParse("x".repeat(11)).success, false);
  assert.equal(webPasswordSchema.safeParse("x".repeat(12)).success, true);
  assert.equal(webPasswordSchema.safeParse("x".repeat(257)).success, false);
  const generated = generateWebPassword();
  assert.equal(generated.length, 20);
  assert.equal(webPasswordSchema.safeParse(generated).success, true);
});

test("web passwords are 12 to 256 characters, and the form says which bound was missed", () => {
  const message = (password: string) => webPasswordSchema.safeParse(password).error?.issues[0]?.message;
  assert.equal(message("a".repeat(11)), "a web password has at least 12 characters");
  assert.equal(message("a".repeat(257)), "a web password has at most 256 characters");
  assert.equal(message("a".repeat(12)), undefined);
  assert.equal(message("a".repeat(256)), undefined);
});
