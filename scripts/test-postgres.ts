// `npm run test:postgres`: the repository and integration tests again, on PostgreSQL. Starts a
// throw-away server (test/support/postgres.ts), runs the test files with DTCP_TEST_POSTGRES set
// (each test then gets a fresh database on it), stops and removes the server.
import { spawnSync } from "node:child_process";
import { startPostgres } from "../test/support/postgres.ts";

/** The tests whose subject is storage or that run a daemon on it; the rest do not touch a database. */
export const POSTGRES_TESTS = [
  "server/repositories/setup/repository.test.ts",
  "server/repositories/two-factor/repository.test.ts",
  "server/repositories/web-sessions/repository.test.ts",
  "test/allocation.test.ts",
  "test/api.test.ts",
  "test/cli.test.ts",
  "test/control-limits.test.ts",
  "test/control.test.ts",
  "test/keys.test.ts",
  "test/pops.test.ts",
  "test/retention.test.ts",
  "test/revocation.test.ts",
  "test/traffic.test.ts",
];

const server = await startPostgres();
let status = 1;
try {
  const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...(process.argv.slice(2).length ? process.argv.slice(2) : POSTGRES_TESTS)], {
    stdio: "inherit",
    env: { ...process.env, DTCP_TEST_POSTGRES: `postgresql://postgres@127.0.0.1:${server.port}/postgres` },
  });
  status = result.status ?? 1;
} finally {
  server.stop();
}
process.exit(status);
