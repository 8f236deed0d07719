import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { currentPostgresSchema, postgresSchemaPath } from "../../../scripts/postgres-schema.ts";
import { diffPostgresSchemas } from "../../../scripts/schema-engine.ts";
import { startPostgres, type PostgresServer } from "../../../test/support/postgres.ts";
import { MigrationError, migrationNames, sha256 } from "../../db/migrate.ts";
import { applyPostgresMigrations, postgresMigrationsDir } from "./migrate.ts";

const committed = migrationNames(postgresMigrationsDir);

describe("PostgreSQL migrations", { timeout: 120_000 }, () => {
  let server: PostgresServer;
  const scratch = mkdtempSync(join(tmpdir(), "pg-migrate-test-"));
  let databases = 0;
  const clients: pg.Client[] = [];
  /** A connected client of a fresh database. */
  const fresh = async (): Promise<pg.Client> => {
    const client = new pg.Client({ connectionString: await server.database(`m${databases++}`) });
    await client.connect();
    clients.push(client);
    return client;
  };
  const migrationsWith = (extra: Record<string, string>): string => {
    const dir = mkdtempSync(join(scratch, "migrations-"));
    cpSync(postgresMigrationsDir, dir, { recursive: true });
    for (const [name, sql] of Object.entries(extra)) {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, "migration.sql"), sql);
    }
    return dir;
  };
  /** Tables, columns with their types, nullability and defaults, and indexes: what a schema builds. */
  const catalog = async (client: pg.Client) => ({
    columns: (
      await client.query(
        `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '_prisma_migrations' ORDER BY table_name, column_name`,
      )
    ).rows,
    indexes: (await client.query(`SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '_prisma_migrations' ORDER BY indexname`)).rows,
    constraints: (
      await client.query(
        `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> '_prisma_migrations' ORDER BY conname`,
      )
    ).rows,
  });

  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.end()));
    server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  test("a fresh database gets every migration, recorded as Prisma records them; a second run applies nothing", async () => {
    const client = await fresh();
    assert.deepEqual(await applyPostgresMigrations(client), committed);
    const { rows } = await client.query(`SELECT * FROM "_prisma_migrations" ORDER BY migration_name`);
    assert.deepEqual(
      rows.map((r) => r.migration_name),
      committed,
    );
    for (const row of rows) {
      assert.equal(row.checksum, sha256(readFileSync(join(postgresMigrationsDir, row.migration_name, "migration.sql"))));
      assert.equal(row.applied_steps_count, 1);
      assert.ok(row.finished_at instanceof Date && row.finished_at >= row.started_at);
    }
    assert.deepEqual(await applyPostgresMigrations(client), []);
  });

  test("a failing migration leaves the database as it was", async () => {
    const client = await fresh();
    await applyPostgresMigrations(client);
    const before = await catalog(client);
    const dir = migrationsWith({ "29990101000000_broken": `CREATE TABLE "Extra" (id INT);\nALTER TABLE "Nope" ADD COLUMN x INT;` });
    await assert.rejects(applyPostgresMigrations(client, dir), (err: Error) => err instanceof MigrationError && /29990101000000_broken failed: .*"Nope".*left as it was/.test(err.message));
    assert.deepEqual(await catalog(client), before, "the table the migration made first is gone again");
    assert.equal((await client.query(`SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE migration_name = '29990101000000_broken'`)).rows[0].n, 0);
  });

  test("a migration edited after it was applied is refused, and so is a database newer than the code", async () => {
    const client = await fresh();
    const dir = migrationsWith({ "29990101000000_extra": `CREATE TABLE "Extra" (id INT);` });
    await applyPostgresMigrations(client, dir);
    writeFileSync(join(dir, "29990101000000_extra", "migration.sql"), `CREATE TABLE "Extra" (id BIGINT);`);
    await assert.rejects(applyPostgresMigrations(client, dir), /29990101000000_extra was edited after it was applied/);
    await assert.rejects(applyPostgresMigrations(client), /29990101000000_extra is applied to this database but is not in/);
  });

  test("processes starting together apply each migration once", async () => {
    const url = await server.database("together");
    const starters = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        clients.push(c);
        return c;
      }),
    );
    const results = await Promise.all(starters.map((c) => applyPostgresMigrations(c)));
    assert.deepEqual(results.flat().sort(), committed, "every migration applied by exactly one of them");
    const { rows } = await starters[0]!.query(`SELECT count(*)::int AS n FROM "_prisma_migrations"`);
    assert.equal(rows[0].n, committed.length);
  });

  test("the two schema roots agree: prisma/postgres/schema.prisma is generated from prisma/schema.prisma, and its migrations build it", async () => {
    assert.equal(readFileSync(postgresSchemaPath, "utf8"), currentPostgresSchema(), "run `npm run db:migration:create -- <name>` after editing prisma/schema.prisma");
    const migrated = await fresh();
    await applyPostgresMigrations(migrated);
    const described = await fresh();
    await described.query((await diffPostgresSchemas(null, currentPostgresSchema()))!);
    assert.deepEqual(await catalog(migrated), await catalog(described));
  });
});
