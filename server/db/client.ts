import Database from "better-sqlite3";
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaClient } from "./generated/client.ts";
import { applyMigrations, defaultMigrationsDir } from "./migrate.ts";
import { makeDatabasePrivate } from "./private-files.ts";
import { DatabaseUrlError, parseDatabaseUrl } from "../storage/database-url.ts";

export type Db = PrismaClient;

/** The SQLite file a `file:` URL names. */
export function sqliteFile(url: string): string {
  const target = parseDatabaseUrl(url);
  if (target.engine !== "sqlite") throw new DatabaseUrlError(`not a SQLite URL: ${target.engine}`);
  return target.file;
}

/**
 * Opens the database, creating it and applying pending migrations first.
 * Migrations run on a plain better-sqlite3 connection because Prisma's migration engine is native and unavailable offline.
 */
export async function openDatabase(url: string, migrationsDir = defaultMigrationsDir): Promise<Db> {
  const file = sqliteFile(url);
  for (const what of makeDatabasePrivate(file)) process.stderr.write(`database: ${what}: it was readable by others\n`);
  const raw = new Database(file);
  try {
    // WAL lets the daemon, the CLI and the web app read while one of them writes.
    raw.pragma("journal_mode = WAL");
    applyMigrations(raw, migrationsDir);
  } finally {
    raw.close();
  }
  const db = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: `file:${file}`, timeout: 10_000 }) });
  // What goes through the repositories (users, pools, delegations, settings: what an administrator or
  // a first login was told is saved) is synced to disk at each commit, so that a power loss cannot take
  // it back. The daemon's session rows and login audit go through login-store.ts, which stays NORMAL
  // (with WAL a crash loses nothing there; a power loss at most the last moments of history).
  await db.$executeRawUnsafe("PRAGMA synchronous = FULL");
  return db;
}
