// Which database engine a test run uses. `npm run test:postgres` (scripts/test-postgres.ts) starts a
// throw-away PostgreSQL server and sets DTCP_TEST_POSTGRES to a URL of its maintenance database;
// every scratch database is then a fresh PostgreSQL database on it. Otherwise tests use SQLite files.
import { execFileSync } from "node:child_process";
import { join } from "node:path";

let made = 0;

/** The engine of this run. */
export const TEST_ENGINE: "sqlite" | "postgresql" = process.env.DTCP_TEST_POSTGRES ? "postgresql" : "sqlite";

/** DATABASE_URL of a new, empty database for one test: a file in `dir`, or a database on the run's PostgreSQL server. */
export function scratchDatabaseUrl(dir: string): string {
  const server = process.env.DTCP_TEST_POSTGRES;
  if (!server) return `file:${join(dir, "broker.db")}`;
  const name = `t_${process.pid}_${made++}`;
  execFileSync("psql", [server, "-qX", "-c", `CREATE DATABASE ${name}`], { stdio: "pipe" });
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}
