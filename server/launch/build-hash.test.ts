import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { sourceHash } from "./build-hash.ts";

test("the source hash follows contents and names, not tests or generated code", () => {
  const root = mkdtempSync(join(tmpdir(), "build-hash-"));
  try {
    mkdirSync(join(root, "app", "generated"), { recursive: true });
    writeFileSync(join(root, "app", "page.tsx"), "a");
    const first = sourceHash(root, ["app", "missing.json"]);
    writeFileSync(join(root, "app", "page.test.ts"), "x");
    writeFileSync(join(root, "app", "generated", "client.ts"), "x");
    assert.equal(sourceHash(root, ["app", "missing.json"]), first);
    writeFileSync(join(root, "app", "page.tsx"), "b");
    assert.notEqual(sourceHash(root, ["app", "missing.json"]), first);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
