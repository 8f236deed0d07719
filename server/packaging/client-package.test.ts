import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { clientPackage, clientSources } from "./client-package.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

test("the client package holds the client's sources and none of the broker's storage or web code", () => {
  const sources = clientSources(ROOT);
  assert.ok(sources.includes("server/client/dtcpc.ts"));
  assert.ok(sources.includes("server/dataplane/native.ts"), "the addon wrapper");
  assert.ok(sources.includes("server/protocol/challenge.ts"), "the DTCP login response");
  for (const path of sources) assert.doesNotMatch(path, /^server\/(db|repositories|web|api|broker)\//, path);
});

test("the archive unpacks with tar into an npm package with a dtcpc bin", () => {
  const dir = mkdtempSync(join(tmpdir(), "dtcpc-package-"));
  try {
    writeFileSync(join(dir, "dtcpc.tgz"), clientPackage(ROOT));
    execFileSync("tar", ["-xzf", "dtcpc.tgz"], { cwd: dir });
    const manifest = JSON.parse(readFileSync(join(dir, "package/package.json"), "utf8")) as { name: string; bin: Record<string, string>; dependencies: Record<string, string> };
    assert.equal(manifest.name, "dtcpc");
    assert.equal(manifest.bin.dtcpc, "bin/dtcpc.js");
    assert.deepEqual(Object.keys(manifest.dependencies), ["tsx"]);
    for (const path of ["bin/dtcpc.js", "binding.gyp", "native/dataplane/addon.c", ...clientSources(ROOT)]) {
      assert.ok(existsSync(join(dir, "package", path)), path);
      assert.deepEqual(readFileSync(join(dir, "package", path)), readFileSync(join(ROOT, path)), `${path} is the checkout's`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("npm installs the package (building the addon) and the installed dtcpc runs", { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "dtcpc-install-"));
  try {
    writeFileSync(join(dir, "dtcpc.tgz"), clientPackage(ROOT));
    execFileSync("npm", ["install", "-g", "--allow-scripts=dtcpc,esbuild", "--prefix", join(dir, "prefix"), "--no-audit", "--no-fund", join(dir, "dtcpc.tgz")], { cwd: dir, stdio: "pipe" });
    assert.ok(existsSync(join(dir, "prefix/lib/node_modules/dtcpc/build/Release/dtcp_dataplane.node")), "the addon was built");
    // The usage line proves the sources load through tsx; no server is needed for it.
    let usage = "";
    try {
      execFileSync(join(dir, "prefix/bin/dtcpc"), ["-h"], { stdio: "pipe" });
    } catch (err) {
      usage = String((err as { stderr: Buffer }).stderr);
    }
    assert.match(usage, /usage: dtcpc /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
