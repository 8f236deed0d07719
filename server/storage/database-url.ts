import { resolve } from "node:path";

export class DatabaseUrlError extends Error {}

export type DatabaseTarget = { engine: "sqlite"; file: string } | { engine: "postgresql"; url: string };

/**
 * What DATABASE_URL names: `file:<path>` a SQLite file (a relative path from the working
 * directory), `postgres://` or `postgresql://` a PostgreSQL database.
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  if (scheme === "file") {
    const path = url.slice("file:".length).split("?")[0] ?? "";
    if (path === "") throw new DatabaseUrlError("DATABASE_URL names no file: write file:<path> for SQLite.");
    return { engine: "sqlite", file: resolve(/*turbopackIgnore: true*/ path) };
  }
  if (scheme === "postgres" || scheme === "postgresql") return { engine: "postgresql", url };
  throw new DatabaseUrlError(
    `DATABASE_URL must start with file: (SQLite) or postgresql:// (PostgreSQL); got ${scheme ? `"${scheme}:"` : `"${url.slice(0, 20)}"`}.`,
  );
}
