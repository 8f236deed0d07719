import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaClient } from "./generated/client.ts";
import { applyMigrations, defaultMigrationsDir } from "./migrate.ts";

export type Db = PrismaClient;

export class DatabaseUrlError extends Error {}

/** The SQLite file a `file:` URL names (relative paths are taken from the working directory). */
export function sqliteFile(url: string): string {
  if (!url.startsWith("file:")) {
    throw new DatabaseUrlError(`DATABASE_URL must be a SQLite "file:" URL for now; got "${url.split(":")[0]}:".`);
  }
  const path = url.slice("file:".length).split("?")[0] ?? "";
  if (path === "") throw new DatabaseUrlError("DATABASE_URL names no file.");
  return resolve(/*turbopackIgnore: true*/ path);
}

/**
 * Opens the database, creating it and applying pending migrations first.
 * Migrations run on a plain better-sqlite3 connection because Prisma's migration engine is native and unavailable offline.
 */
export async function openDatabase(url: string, migrationsDir = defaultMigrationsDir): Promise<Db> {
  const file = sqliteFile(url);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const raw = new Database(file);
  try {
    // WAL lets the daemon, the CLI and the web app read while one of them writes.
    raw.pragma("journal_mode = WAL");
    applyMigrations(raw, migrationsDir);
  } finally {
    raw.close();
  }
  const db = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: `file:${file}`, timeout: 10_000 }) });
  // Durable enough with WAL (a crash loses at most the last transactions, never consistency) and much faster.
  await db.$executeRawUnsafe("PRAGMA synchronous = NORMAL");
  return db;
}
