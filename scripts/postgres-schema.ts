// The PostgreSQL schema root is the SQLite one with another generator output and provider: the
// models are written once, in prisma/schema.prisma. `npm run db:migration:create` rewrites
// prisma/postgres/schema.prisma from it; a test fails when the committed copy drifts.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const sqliteSchemaPath = fileURLToPath(new URL("../prisma/schema.prisma", import.meta.url));
export const postgresSchemaPath = fileURLToPath(new URL("../prisma/postgres/schema.prisma", import.meta.url));

const HEADER = "// Generated from prisma/schema.prisma by scripts/postgres-schema.ts: edit that file, then run\n// `npm run db:migration:create -- <name>`, which rewrites this one.\n\n";

/** The PostgreSQL schema for a SQLite schema's text. */
export function postgresSchema(sqlite: string): string {
  const swap = (text: string, from: string, to: string) => {
    if (!text.includes(from)) throw new Error(`prisma/schema.prisma: expected ${from}`);
    return text.replace(from, to);
  };
  let text = swap(sqlite, 'output       = "../server/db/generated"', 'output       = "../../server/db/generated-pg"');
  text = swap(text, 'provider = "sqlite"', 'provider = "postgresql"');
  return HEADER + text;
}

export function currentPostgresSchema(): string {
  return postgresSchema(readFileSync(sqliteSchemaPath, "utf8"));
}
