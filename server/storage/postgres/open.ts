import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import type { Db } from "../../db/client.ts";
import { PrismaClient } from "../../db/generated-pg/client.ts";
import { servedByPostgres } from "../../db/transaction.ts";
import { applyPostgresMigrations, postgresMigrationsDir } from "./migrate.ts";

/** Connects to the PostgreSQL database at `url`, applying pending migrations first. */
export async function openPostgres(url: string, migrationsDir = postgresMigrationsDir): Promise<Db> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await applyPostgresMigrations(client, migrationsDir);
  } finally {
    await client.end();
  }
  // Both generated clients come from the same models; the repositories are written against the
  // SQLite one's types, which this one's API matches.
  const db = new PrismaClient({ adapter: new PrismaPg({ connectionString: url }) }) as unknown as Db;
  servedByPostgres(db);
  return db;
}
