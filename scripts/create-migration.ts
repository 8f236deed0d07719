// Usage: npm run db:migration:create -- <name>
// Writes prisma/migrations/<timestamp>_<name>/migration.sql with the SQL that
// takes the committed migrations to prisma/schema.prisma, as `prisma migrate
// dev --create-only` would, without the native schema engine; and the same
// change for PostgreSQL in prisma/postgres/migrations/<timestamp>_<name>/,
// from the PostgreSQL schema as it was to the one generated anew from
// prisma/schema.prisma (which it rewrites). Needs root and Debian's postgresql
// (the engine talks to a throw-away server). One difference:
// Prisma heads destructive migrations with a "Warnings" comment (dropped
// columns and the like), which the WebAssembly engine cannot compute; add one
// by hand if it helps the reader.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { currentPostgresSchema, postgresSchemaPath } from "./postgres-schema.ts";
import { diffMigrationsToSchema, diffPostgresSchemas, lockfile, migrationsDir, postgresMigrationsDir } from "./schema-engine.ts";

// Prisma's slugify for the names allowed here: split camelCase, lower-case,
// one "_" between words.
function slugify(name: string): string {
  return name
    .replace(/([A-Z]{2,})(\d+)/g, "$1 $2")
    .replace(/([a-z\d]+)([A-Z]{2,})/g, "$1 $2")
    .replace(/([a-z\d])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-rt-z\d]+)/g, "$1 $2")
    .toLowerCase()
    .replace(/[^a-z\d]+/g, "_")
    .replace(/^_|_$/g, "")
    .slice(0, 200);
}

// UTC YYYYMMDDHHMMSS, as the schema engine names migration folders.
function timestamp(date: Date): string {
  return date.toISOString().replace(/\D/g, "").slice(0, 14);
}

const name = process.argv[2] ?? "";
if (!/^[A-Za-z\d _-]*[A-Za-z\d][A-Za-z\d _-]*$/.test(name)) {
  console.error("Usage: npm run db:migration:create -- <name>  (letters, digits, spaces, '-' or '_')");
  process.exit(1);
}

const sqlite = await diffMigrationsToSchema();
const postgresNow = currentPostgresSchema();
const postgresBefore = existsSync(postgresSchemaPath) ? readFileSync(postgresSchemaPath, "utf8") : null;
const postgres = await diffPostgresSchemas(postgresBefore, postgresNow);
if (sqlite === null && postgres === null) {
  console.log("No schema changes; no migration created.");
  process.exit(0);
}

const folderName = `${timestamp(new Date())}_${slugify(name)}`;
for (const [dir, sql, provider] of [
  [migrationsDir, sqlite, "sqlite"],
  [postgresMigrationsDir, postgres, "postgresql"],
] as const) {
  // A change one dialect renders as nothing (a comment, say) still gets its folder, so that both histories name the same steps.
  const folder = join(dir, folderName);
  mkdirSync(dir, { recursive: true });
  mkdirSync(folder); // fails if it exists, like Prisma: never overwrite a migration
  writeFileSync(join(folder, "migration.sql"), sql ?? "-- No change in this dialect.\n");
  writeFileSync(join(dir, "migration_lock.toml"), lockfile(provider));
  console.log(`Created ${relative(process.cwd(), join(folder, "migration.sql"))}. Review it before committing.`);
}
writeFileSync(postgresSchemaPath, postgresNow);
