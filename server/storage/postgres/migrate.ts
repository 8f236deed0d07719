// Applies prisma/postgres/migrations at start-up, as server/db/migrate.ts does for SQLite: each
// migration in its own transaction (PostgreSQL's DDL is transactional, so a failed one leaves the
// database as it was), recorded in _prisma_migrations as Prisma's engine records them.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ClientBase } from "pg";
import { checkHistory, checkUnchanged, MigrationError, migrationNames, sha256, type AppliedRow } from "../../db/migrate.ts";

export const postgresMigrationsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "prisma", "postgres", "migrations");

// Exactly as Prisma's schema engine creates it on PostgreSQL.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** Any constant: every process migrating one database takes this advisory lock, one after another. */
const MIGRATION_LOCK = 2020_0_41;

/** Applies, in name order, the migrations the database does not have yet; returns their names. */
export async function applyPostgresMigrations(client: ClientBase, migrationsDir = postgresMigrationsDir): Promise<string[]> {
  const names = migrationNames(migrationsDir);
  // Daemons of several POPs and the web app may start together against one database.
  await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
  try {
    await client.query(CREATE_MIGRATIONS_TABLE);
    const { rows } = await client.query<AppliedRow>(`SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL`);
    const recorded = checkHistory(rows, names, migrationsDir);
    const applied: string[] = [];
    for (const name of names) {
      const script = readFileSync(join(migrationsDir, name, "migration.sql"));
      const checksum = recorded.get(name);
      if (checksum !== undefined) {
        checkUnchanged(name, script, checksum);
        continue;
      }
      await applyOne(client, name, script);
      applied.push(name);
    }
    return applied;
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]);
  }
}

async function applyOne(client: ClientBase, name: string, script: Buffer): Promise<void> {
  const startedAt = new Date();
  try {
    await client.query("BEGIN");
    await client.query(script.toString("utf8"));
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
       VALUES ($1, $2, now(), $3, NULL, NULL, $4, 1)`,
      [randomUUID(), sha256(script), name, startedAt],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    const cause = error instanceof Error ? error.message : String(error);
    throw new MigrationError(`Migration ${name} failed: ${cause}. The database was left as it was.`, { cause: error });
  }
}
