// `npm run test:postgres`: the tests that touch storage again, on PostgreSQL. Starts a
// throw-away server (test/support/postgres.ts), runs the test files with DTCP_TEST_POSTGRES set
// (each test then gets a fresh database on it), stops and removes the server.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startPostgres } from "../test/support/postgres.ts";

/**
 * Every test file that reaches storage through the test support (a daemon, a scratch database, the
 * run's engine), found rather than listed so that a new one cannot be left out. The namespace tests
 * are not run twice: their subject is the data plane, and the one about POPs runs on PostgreSQL
 * already.
 */
export function postgresTests(): string[] {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const files = ["server", "test", "modules"].flatMap((dir) =>
    readdirSync(join(root, dir), { recursive: true, encoding: "utf8" })
      .filter((file) => /\.test\.tsx?$/.test(file) && !file.includes("generated"))
      .map((file) => join(dir, file)),
  );
  return files
    .filter((file) => !/(^|\/)netns-[^/]*$/.test(file))
    .filter((file) => /support\/(broker|test-database|engine|daemon-process)\.ts"/.test(readFileSync(join(root, file), "utf8")))
    .sort();
}

// What it says as it goes, and TAP for scripts/skip-report.ts at the end of npm test.
const REPORTERS = ["--test-reporter=spec", "--test-reporter-destination=stdout", "--test-reporter=tap", `--test-reporter-destination=${join(dirname(fileURLToPath(import.meta.url)), "..", "artifacts", "postgres.tap")}`];
mkdirSync(join(dirname(fileURLToPath(import.meta.url)), "..", "artifacts"), { recursive: true });

const server = await startPostgres();
let status = 1;
try {
  const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...REPORTERS, ...(process.argv.slice(2).length ? process.argv.slice(2) : postgresTests())], {
    stdio: "inherit",
    env: { ...process.env, DTCP_TEST_POSTGRES: `postgresql://postgres@127.0.0.1:${server.port}/postgres` },
  });
  status = result.status ?? 1;
} finally {
  server.stop();
}
process.exit(status);
