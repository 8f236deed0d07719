import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { openDatabase } from "./client.ts";
import { makeDatabasePrivate } from "./private-files.ts";

const mode = (path: string) => statSync(path).mode & 0o777;

describe("the database's files are private", () => {
  const root = mkdtempSync(join(tmpdir(), "private-db-"));
  after(() => rmSync(root, { recursive: true, force: true }));

  test("a data directory made beforehand with mkdir -p (0755) is tightened, and broker.db, -wal and -shm are 0600", async () => {
    const dir = join(root, "made-beforehand");
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const file = join(dir, "broker.db");
    const db = await openDatabase(`file:${file}`);
    try {
      await db.user.count();
      assert.equal(mode(dir), 0o700);
      for (const path of [file, `${file}-wal`, `${file}-shm`]) {
        assert.ok(existsSync(path), `${path} exists while the database is open`);
        assert.equal(mode(path), 0o600, path);
      }
    } finally {
      await db.$disconnect();
    }
  });

  test("an existing world-readable database is tightened and the change is reported", () => {
    const dir = join(root, "old");
    mkdirSync(dir, { mode: 0o700 });
    const file = join(dir, "broker.db");
    writeFileSync(file, "", { mode: 0o644 });
    writeFileSync(`${file}-wal`, "", { mode: 0o644 });
    chmodSync(file, 0o644);
    chmodSync(`${file}-wal`, 0o644);
    const said = makeDatabasePrivate(file);
    assert.equal(mode(file), 0o600);
    assert.equal(mode(`${file}-wal`), 0o600);
    assert.deepEqual(said.map((s) => s.split(" (")[0]), [file, `${file}-wal`]);
    assert.deepEqual(makeDatabasePrivate(file), [], "nothing left to tighten");
  });
});
