import assert from "node:assert/strict";
import { test } from "node:test";
import { hashToken, newToken } from "./token.ts";

test("a token is 32 random bytes in base64url and its hash is SHA-256 hex", () => {
  const { token, hash } = newToken(() => Buffer.alloc(32, 0xff));
  assert.equal(token, `${"_".repeat(42)}8`);
  assert.equal(hash, hashToken(token));
  assert.match(hash, /^[0-9a-f]{64}$/);
  assert.equal(hashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

test("two tokens differ", () => {
  assert.notEqual(newToken().token, newToken().token);
});
