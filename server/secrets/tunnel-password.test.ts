import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { generateTunnelPassword, lazySecretBox, loadOrCreateSecretKey, SecretKeyError, totpSealName, TunnelPasswordBox } from "./tunnel-password.ts";

test("the key file is created once with mode 0600 and reused", () => {
  const dir = mkdtempSync(join(tmpdir(), "key-"));
  try {
    const path = join(dir, "nested", "secret.key");
    const key = loadOrCreateSecretKey(path);
    assert.equal(key.length, 32);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(loadOrCreateSecretKey(path), key);
    writeFileSync(join(dir, "short.key"), "tooshort");
    assert.throws(() => loadOrCreateSecretKey(join(dir, "short.key")), SecretKeyError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sealed passwords open with the same key and user only, and hide the plain text", () => {
  const box = new TunnelPasswordBox(Buffer.alloc(32, 7));
  const sealed = box.seal("alice", "s3cret-pass");
  assert.equal(box.open("alice", sealed), "s3cret-pass");
  assert.ok(!Buffer.from(sealed).toString("latin1").includes("s3cret"));
  assert.notDeepEqual(box.seal("alice", "s3cret-pass"), sealed, "a fresh IV each time");
  assert.throws(() => box.open("bob", sealed), SecretKeyError);
  assert.throws(() => new TunnelPasswordBox(Buffer.alloc(32, 8)).open("alice", sealed), SecretKeyError);
  const tampered = Uint8Array.from(sealed);
  tampered[tampered.length - 1]! ^= 1;
  assert.throws(() => box.open("alice", tampered), SecretKeyError);
});

test("generated passwords are 20 characters safe for dtcpc.auth and differ", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const p = generateTunnelPassword();
    assert.match(p, /^[A-Za-z2-9]{20}$/);
    seen.add(p);
  }
  assert.equal(seen.size, 200);
});

test("the key file never leaves its bytes in a readable-by-others file", () => {
  const dir = mkdtempSync(join(tmpdir(), "key-"));
  try {
    const path = join(dir, "secret.key");
    writeFileSync(path, Buffer.alloc(32, 1), { mode: 0o644 });
    loadOrCreateSecretKey(path);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(readFileSync(path).length, 32);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const KEY = Buffer.alloc(32, 7);
const OTHER = Buffer.alloc(32, 9);

test("TOTP secrets are sealed under a name of their own: a DTCP password's name does not open them", () => {
  const box = new TunnelPasswordBox(KEY);
  assert.equal(totpSealName("alice"), "totp:alice");
  const sealed = box.seal(totpSealName("alice"), "JBSWY3DPEHPK3PXP");
  assert.equal(box.open("totp:alice", sealed), "JBSWY3DPEHPK3PXP");
  assert.throws(() => box.open("alice", sealed), { message: "the stored DTCP password of alice cannot be decrypted with this secret key" });
});

test("every key, the current one and each previous one, must be 32 bytes", () => {
  for (const [key, previous] of [[Buffer.alloc(31), []], [KEY, [Buffer.alloc(33)]]] as const) {
    assert.throws(() => new TunnelPasswordBox(key, previous), (err: unknown) => err instanceof SecretKeyError && err.message === "a secret key is 32 bytes");
  }
});

test("a stored value that is not a sealed password is refused by its format; an empty password seals and opens", () => {
  const box = new TunnelPasswordBox(KEY);
  const empty = box.seal("u", "");
  assert.equal(empty.length, 1 + 12 + 16, "version, IV and tag, no body");
  assert.equal(box.open("u", empty), "");
  const format = { message: "the stored DTCP password of u is not in a known format" };
  assert.throws(() => box.open("u", empty.subarray(0, 28)), format);
  const otherVersion = box.seal("u", "pw");
  otherVersion[0] = 2;
  assert.throws(() => box.open("u", otherVersion), format);
  assert.throws(() => new TunnelPasswordBox(OTHER).open("u", box.seal("u", "pw")), { message: "the stored DTCP password of u cannot be decrypted with this secret key" });
});

test("generated passwords are 20 characters drawn by rejection sampling: bytes past the last whole alphabet are skipped", () => {
  // 57 characters: bytes from 228 on would favour the first 28 of them, and are dropped.
  const first = Buffer.from([228, 255, ...new Array<number>(30).fill(1)]);
  let calls = 0;
  const password = generateTunnelPassword(() => (calls++ === 0 ? first : Buffer.alloc(32, 1)));
  assert.equal(password, "B".repeat(20));
  assert.equal(generateTunnelPassword(() => Buffer.from([227, ...new Array<number>(31).fill(0)])), `${"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"[227 % 57]}${"A".repeat(19)}`);
});

test("a lazy box reads its keys at its first use, and once", () => {
  let loads = 0;
  const previousBox = new TunnelPasswordBox(OTHER);
  const box = lazySecretBox(
    () => {
      loads++;
      return KEY;
    },
    () => [OTHER],
  );
  assert.equal(loads, 0, "nothing read before a secret is touched");
  assert.equal(box.open("u", box.seal("u", "pw")), "pw");
  assert.equal(box.open("u", previousBox.seal("u", "old")), "old", "the previous keys open what they sealed");
  assert.equal(loads, 1);
  const withoutPrevious = lazySecretBox(() => KEY);
  assert.throws(() => withoutPrevious.open("u", previousBox.seal("u", "old")), /cannot be decrypted/);
});
