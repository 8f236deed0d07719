import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { diffMigrationsToSchema, schemaPath } from "../../scripts/schema-engine.ts";
import { applyMigrations, defaultMigrationsDir, MigrationError } from "./migrate.ts";

const committed = readdirSync(defaultMigrationsDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

const scratch = mkdtempSync(join(tmpdir(), "migrate-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A copy of the committed migrations plus `extra` ({ name: sql }), in a fresh folder. */
function migrationsWith(extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(scratch, "migrations-"));
  cpSync(defaultMigrationsDir, dir, { recursive: true });
  for (const [name, sql] of Object.entries(extra)) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, "migration.sql"), sql);
  }
  return dir;
}

function snapshot(db: Database.Database) {
  return {
    schema: db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").all(),
    rows: db.prepare("SELECT * FROM _prisma_migrations ORDER BY migration_name").all(),
  };
}

test("a fresh database gets every migration and the tables of the schema", () => {
  const db = new Database(":memory:");
  assert.deepEqual(applyMigrations(db, defaultMigrationsDir), committed);

  const models = [...readFileSync(schemaPath, "utf8").matchAll(/^model (\w+) \{/gm)].map((m) => m[1]);
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
  assert.deepEqual(tables.sort(), [...models, "_prisma_migrations", "sqlite_sequence"].sort());

  const rows = db.prepare("SELECT * FROM _prisma_migrations ORDER BY migration_name").all() as Record<string, unknown>[];
  assert.deepEqual(
    rows.map((row) => row.migration_name),
    committed,
  );
  for (const row of rows) {
    const file = readFileSync(join(defaultMigrationsDir, String(row.migration_name), "migration.sql"));
    assert.equal(row.checksum, createHash("sha256").update(file).digest("hex"));
    assert.match(String(row.id), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(row.logs, null);
    assert.equal(row.rolled_back_at, null);
    assert.equal(row.applied_steps_count, 1);
    assert.ok(Number(row.finished_at) >= Number(row.started_at));
  }
});

test("a second run applies nothing", () => {
  const db = new Database(":memory:");
  applyMigrations(db, defaultMigrationsDir);
  const before = snapshot(db);
  assert.deepEqual(applyMigrations(db, defaultMigrationsDir), []);
  assert.deepEqual(snapshot(db), before);
});

test("a failing migration leaves the database as it was", () => {
  const db = new Database(":memory:");
  applyMigrations(db, defaultMigrationsDir);
  const before = snapshot(db);
  // The first statement succeeds: it must be rolled back too.
  const dir = migrationsWith({ "20991231000000_broken": 'CREATE TABLE "Extra" ("id" INTEGER);\nFOO;\n' });
  assert.throws(() => applyMigrations(db, dir), {
    name: "MigrationError",
    message: 'Migration 20991231000000_broken failed: near "FOO": syntax error. The database was left as it was.',
  });
  assert.deepEqual(snapshot(db), before);
  assert.equal(db.inTransaction, false);
});

test("a migration edited after it was applied is refused, line-ending changes are not", () => {
  const dir = migrationsWith();
  const db = new Database(":memory:");
  applyMigrations(db, dir);
  const file = join(dir, committed[0]!, "migration.sql");
  const original = readFileSync(file, "utf8");

  writeFileSync(file, original.replaceAll("\n", "\r\n"));
  assert.deepEqual(applyMigrations(db, dir), []);

  writeFileSync(file, original);
  appendFileSync(file, 'CREATE TABLE "Sneaky" ("id" INTEGER);\n');
  assert.throws(() => applyMigrations(db, dir), (error) => {
    assert.ok(error instanceof MigrationError);
    assert.match(error.message, new RegExp(`^Migration ${committed[0]} was edited after it was applied`));
    return true;
  });
});

test("a database newer than the code is refused", () => {
  const db = new Database(":memory:");
  applyMigrations(db, migrationsWith({ "20991231000000_later": 'CREATE TABLE "Later" ("id" INTEGER);\n' }));
  assert.throws(() => applyMigrations(db, defaultMigrationsDir), {
    name: "MigrationError",
    message: /^Migration 20991231000000_later is applied to this database but is not in .*: the database is newer than this code\.$/,
  });
});

test("a migration that another process applied meanwhile is not applied twice", () => {
  const file = join(scratch, "race.db");
  const db = new Database(file);
  const other = new Database(file);
  // The other process applies everything just before this one takes the write lock.
  let raced = false;
  const racing = new Proxy(db, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (property === "exec") {
        return (sql: string) => {
          if (sql === "BEGIN IMMEDIATE" && !raced) {
            raced = true;
            applyMigrations(other, defaultMigrationsDir);
          }
          return target.exec(sql);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  assert.deepEqual(applyMigrations(racing, defaultMigrationsDir), []);
  assert.ok(raced);
  assert.equal(db.prepare("SELECT count(*) FROM _prisma_migrations").pluck().get(), committed.length);
  db.close();
  other.close();
});

test("a table redefinition keeps the rows that reference the table, and foreign keys stay on", async () => {
  const db = new Database(":memory:");
  applyMigrations(db, defaultMigrationsDir);
  db.prepare(`INSERT INTO "User" (name, tunnelPassword, updatedAt, popId) VALUES ('alice', x'00', 0, 1)`).run();
  db.prepare(`INSERT INTO "Session" (userId, type, transport, clientIpv4, serverIpv4) VALUES (1, 'host', 'udp', '192.0.2.1', '192.0.2.2')`).run();

  // Dropping a column makes Prisma redefine the table: DROP TABLE "User" would
  // cascade to Session if foreign keys were on during the migration.
  const schema = join(scratch, "no-email.prisma");
  writeFileSync(schema, readFileSync(schemaPath, "utf8").replace(/^\s*email\s+String\?\n/m, ""));
  const sql = await diffMigrationsToSchema(defaultMigrationsDir, schema);
  assert.match(sql ?? "", /DROP TABLE "User"/);
  assert.deepEqual(applyMigrations(db, migrationsWith({ "20991231000000_drop_email": sql! })), ["20991231000000_drop_email"]);

  assert.equal(db.prepare(`SELECT count(*) FROM "Session"`).pluck().get(), 1);
  assert.equal(db.prepare(`SELECT count(*) FROM pragma_table_info('User') WHERE name = 'email'`).pluck().get(), 0);
  assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
});

test("a broker from before POPs finds everything it had on the POP default", () => {
  const dir = mkdtempSync(join(scratch, "before-pops-"));
  for (const name of committed.filter((n) => n < "20261202184133_pops")) cpSync(join(defaultMigrationsDir, name), join(dir, name), { recursive: true });
  const db = new Database(":memory:");
  applyMigrations(db, dir);
  db.prepare(`INSERT INTO "User" (name, tunnelPassword, updatedAt) VALUES ('alice', x'00', 0)`).run();
  db.prepare(`INSERT INTO "Pool" (cidr, purpose, prefixLength) VALUES ('2001:db8::/48', 'delegation', 56)`).run();
  db.prepare(`INSERT INTO "Delegation" (prefix, poolId, userId) VALUES ('2001:db8::/56', 1, 1)`).run();
  db.prepare(`INSERT INTO "Session" (userId, userName, type, transport, clientIpv4, serverIpv4) VALUES (1, 'alice', 'host', 'udp', '192.0.2.1', '192.0.2.2')`).run();

  assert.ok(applyMigrations(db, defaultMigrationsDir).includes("20261202184133_pops"));
  assert.deepEqual(db.prepare(`SELECT id, name FROM "Pop"`).all(), [{ id: 1, name: "default" }]);
  for (const table of ["User", "Pool", "Session"]) assert.deepEqual(db.prepare(`SELECT popId FROM "${table}"`).pluck().all(), [1], table);
  assert.equal(db.prepare(`SELECT count(*) FROM "Delegation"`).pluck().get(), 1, "the delegation survives its tables' redefinition");
  assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
});

test("a migration that breaks a foreign key is rolled back", () => {
  const db = new Database(":memory:");
  applyMigrations(db, defaultMigrationsDir);
  const before = snapshot(db);
  const dir = migrationsWith({
    "20991231000000_orphan": `INSERT INTO "Session" (userId, type, transport, clientIpv4, serverIpv4) VALUES (42, 'host', 'udp', '192.0.2.1', '192.0.2.2');\n`,
  });
  assert.throws(() => applyMigrations(db, dir), {
    name: "MigrationError",
    message: "Migration 20991231000000_orphan failed: it leaves rows whose foreign keys point nowhere. The database was left as it was.",
  });
  assert.deepEqual(snapshot(db), before);
});

test("the committed migrations match prisma/schema.prisma", async () => {
  assert.equal(
    await diffMigrationsToSchema(),
    null,
    "prisma/schema.prisma has changes that no migration holds: run `npm run db:migration:create -- <name>`.",
  );
});
