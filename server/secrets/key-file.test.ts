import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { loadKeyFile, loadOrCreateKeyFile, writeKeyFile } from "./key-file.ts";

const run = promisify(execFile);

test("a new key file is 32 bytes, mode 0600, with no temporary file left beside it", () => {
  const dir = mkdtempSync(join(tmpdir(), "key-"));
  try {
    const path = join(dir, "api.key");
    const key = loadOrCreateKeyFile(path);
    assert.equal(key.length, 32);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ["api.key"]);
    assert.deepEqual(loadOrCreateKeyFile(path), key);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("processes creating the same key file at once all end up with the same key", async () => {
  const dir = mkdtempSync(join(tmpdir(), "key-"));
  try {
    const path = join(dir, "api.key");
    const script = `import { loadOrCreateKeyFile } from ${JSON.stringify(new URL("./key-file.ts", import.meta.url).href)};
process.stdout.write(loadOrCreateKeyFile(${JSON.stringify(path)}).toString("hex"));`;
    const outputs = await Promise.all(
      Array.from({ length: 6 }, () => run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script]).then((r) => r.stdout)),
    );
    assert.equal(new Set(outputs).size, 1, outputs.join("\n"));
    assert.equal(outputs[0], loadOrCreateKeyFile(path).toString("hex"));
    assert.deepEqual(readdirSync(dir), ["api.key"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs `work` in a new temporary directory, removed afterwards. */
function inTempDir(work: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "key-"));
  try {
    work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a key file that cannot be read is an error, not a missing key; a wrong size is named", () => {
  inTempDir((dir) => {
    const directory = join(dir, "is-a-directory");
    mkdirSync(directory);
    assert.throws(() => loadOrCreateKeyFile(directory), { code: "EISDIR" });
    const short = join(dir, "short.key");
    writeFileSync(short, Buffer.alloc(31));
    assert.throws(() => loadOrCreateKeyFile(short), { message: `${short} holds 31 bytes; a secret key is 32 bytes.` });
    assert.throws(() => loadKeyFile(join(dir, "missing.key")), { message: `${join(dir, "missing.key")} does not exist` });
  });
});

test("writing a key file where another process just put one keeps theirs, and leaves no temporary file", () => {
  inTempDir((dir) => {
    const path = join(dir, "secret.key");
    writeKeyFile(path, Buffer.alloc(32, 1));
    writeKeyFile(path, Buffer.alloc(32, 2));
    assert.deepEqual(readFileSync(path), Buffer.alloc(32, 1));
    assert.deepEqual(readdirSync(dir), ["secret.key"]);
  });
});
