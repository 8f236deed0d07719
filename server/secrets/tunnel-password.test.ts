import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { generateTunnelPassword, loadOrCreateSecretKey, SecretKeyError, TunnelPasswordBox } from "./tunnel-password.ts";

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
