// Applies the committed Prisma migrations (prisma/migrations/<name>/migration.sql)
// at start-up, without Prisma's schema engine. The bookkeeping is Prisma's own
// (the _prisma_migrations table), so `prisma migrate` accepts the database later.
import { createHash, randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Database } from "better-sqlite3";

// Built from this file's path rather than with `new URL(…, import.meta.url)`, which Next's bundler would take for an asset to bundle.
export const defaultMigrationsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "prisma", "migrations");

export class MigrationError extends Error {
  override name = "MigrationError";
}

// Exactly as the schema engine creates it on SQLite (SQLite drops the
// IF NOT EXISTS from the text it keeps in sqlite_master).
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

export interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: unknown;
}

export const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

// Like Prisma, accept a script whose line endings git converted (LF <-> CRLF).
export function checkUnchanged(name: string, script: Buffer, recorded: string): void {
  const text = script.toString("utf8");
  const variants = [script, text.replaceAll("\r\n", "\n"), text.replaceAll("\n", "\r\n")];
  if (!variants.some((variant) => sha256(variant) === recorded)) {
    throw new MigrationError(
      `Migration ${name} was edited after it was applied to this database. ` +
        "Restore its migration.sql and put the change in a new migration.",
    );
  }
}

/**
 * Applies, in name order and each in its own transaction, the migrations of
 * `migrationsDir` that the database does not have yet. Returns their names.
 */
export function applyMigrations(db: Database, migrationsDir: string): string[] {
  const names = migrationNames(migrationsDir);
  db.exec(createMigrationsTable);
  const rows = db
    .prepare("SELECT migration_name, checksum, finished_at FROM _prisma_migrations WHERE rolled_back_at IS NULL")
    .all() as AppliedRow[];
  const recorded = checkHistory(rows, names, migrationsDir);
  const applied: string[] = [];
  for (const name of names) {
    const script = readFileSync(join(migrationsDir, name, "migration.sql"));
    const checksum = recorded.get(name);
    if (checksum !== undefined) checkUnchanged(name, script, checksum);
    else if (applyOne(db, name, script)) applied.push(name);
  }
  return applied;
}

/** The migrations of a folder, in the order they apply. */
export function migrationNames(migrationsDir: string): string[] {
  return readdirSync(migrationsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/**
 * Refuses a database with a failed migration or one this code does not know; returns the
 * checksums of those applied, by name.
 */
export function checkHistory(rows: readonly AppliedRow[], names: readonly string[], migrationsDir: string): Map<string, string> {
  const failed = rows.find((row) => row.finished_at === null);
  if (failed) {
    throw new MigrationError(
      `Migration ${failed.migration_name} is recorded as failed in this database. ` +
        "Repair the database and mark it with `prisma migrate resolve` before starting again.",
    );
  }
  const unknown = rows.find((row) => !names.includes(row.migration_name));
  if (unknown) {
    throw new MigrationError(
      `Migration ${unknown.migration_name} is applied to this database but is not in ${migrationsDir}: ` +
        "the database is newer than this code.",
    );
  }
  return new Map(rows.map((row) => [row.migration_name, row.checksum]));
}

/** Applies one migration; false if another process applied it meanwhile. */
function applyOne(db: Database, name: string, script: Buffer): boolean {
  // Prisma's table redefinitions turn foreign keys off around DROP TABLE, which
  // SQLite ignores inside a transaction (and the drop would cascade to child
  // rows): turn them off around the transaction instead, and check them before
  // committing, as SQLite's documented procedure does.
  const foreignKeys = db.pragma("foreign_keys", { simple: true }) as number;
  db.pragma("foreign_keys = OFF");
  try {
    // IMMEDIATE takes the write lock now, so that processes starting together
    // serialise here and each sees what the one before it recorded.
    db.exec("BEGIN IMMEDIATE");
    const row = db
      .prepare("SELECT checksum FROM _prisma_migrations WHERE migration_name = ? AND rolled_back_at IS NULL")
      .get(name) as { checksum: string } | undefined;
    if (row) {
      checkUnchanged(name, script, row.checksum);
      db.exec("COMMIT");
      return false;
    }
    const startedAt = Date.now();
    db.exec(script.toString("utf8"));
    if (foreignKeys && (db.pragma("foreign_key_check") as unknown[]).length > 0) {
      throw new Error("it leaves rows whose foreign keys point nowhere");
    }
    // Timestamps as Unix milliseconds, as the native engine stores them on SQLite.
    db.prepare(
      `INSERT INTO _prisma_migrations
         (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
       VALUES (?, ?, ?, ?, NULL, NULL, ?, 1)`,
    ).run(randomUUID(), sha256(script), Date.now(), name, startedAt);
    db.exec("COMMIT");
    return true;
  } catch (error) {
    if (db.inTransaction) db.exec("ROLLBACK");
    if (error instanceof MigrationError) throw error;
    const cause = error instanceof Error ? error.message : String(error);
    throw new MigrationError(`Migration ${name} failed: ${cause}. The database was left as it was.`, { cause: error });
  } finally {
    db.pragma(`foreign_keys = ${foreignKeys ? "ON" : "OFF"}`);
  }
}
