// A throw-away PostgreSQL server for tests and benchmarks: Debian's postgresql binaries, a cluster
// made with initdb in a temporary directory, owned by and run as the unprivileged `postgres` user,
// listening on loopback and a socket in that directory only; stopped and removed afterwards.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { freePort } from "./ports.ts";

export interface PostgresServer {
  readonly port: number;
  /** A connection URL for a database of that name, created on first use of the name. */
  database(name: string): Promise<string>;
  /** The same database through the server's Unix socket: reachable from every network namespace of the host. */
  socketUrl(name: string): string;
  /** Stops the server, keeping its data, as an outage would (clients are cut off). */
  pause(): void;
  /** Starts it again after pause(). */
  resume(): void;
  stop(): void;
}

function binDir(): string | null {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], "bin") : null;
}

/** Why PostgreSQL tests cannot run here, or null when they can (as root, with Debian's postgresql installed). */
export function postgresUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "needs root (to run the cluster as the postgres user)";
  if (!binDir()) return "needs Debian's postgresql package (/usr/lib/postgresql/*/bin/initdb)";
  if (spawnSync("id", ["-u", "postgres"]).status !== 0) return "needs the postgres system user (Debian's postgresql package makes it)";
  return null;
}

/** A skip reason for node:test when no PostgreSQL server can be run here; under CI, a failing test instead. */
export function skipUnlessPostgres(): string | false {
  const why = postgresUnavailable();
  if (why === null) return false;
  if (process.env.CI) test(`runs on PostgreSQL (${why})`, () => assert.fail(`${why}: CI must provide PostgreSQL for this file`));
  return why;
}

const asPostgres = (command: string, args: string[]) => execFileSync("runuser", ["-u", "postgres", "--", command, ...args], { stdio: "pipe" });

export async function startPostgres(): Promise<PostgresServer> {
  const why = postgresUnavailable();
  if (why) throw new Error(`PostgreSQL: ${why}`);
  const bin = binDir()!;
  const dir = mkdtempSync(join(tmpdir(), "dtcp-pg-"));
  const data = join(dir, "data");
  const uid = Number(execFileSync("id", ["-u", "postgres"]).toString());
  const gid = Number(execFileSync("id", ["-g", "postgres"]).toString());
  chownSync(dir, uid, gid);
  const port = await freePort();
  const stop = () => {
    try {
      asPostgres(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]);
    } catch {
      // Not running (a failed start): nothing to stop.
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // fsync off: a test cluster never needs to survive a crash, and commits are much cheaper.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  try {
    asPostgres(join(bin, "initdb"), ["-D", data, "--auth=trust", "-U", "postgres", "-E", "UTF8", "--no-instructions"]);
    asPostgres(join(bin, "pg_ctl"), ["-D", data, "-o", options, "-l", join(dir, "server.log"), "-w", "start"]);
  } catch (err) {
    stop();
    throw new Error(`PostgreSQL did not start: ${String((err as { stderr?: Buffer }).stderr ?? err)}`);
  }
  const made = new Set<string>();
  return {
    port,
    async database(name) {
      if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`not a database name for tests: ${name}`);
      if (!made.has(name)) {
        asPostgres(join(bin, "createdb"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", name]);
        made.add(name);
      }
      return `postgresql://postgres@127.0.0.1:${port}/${name}`;
    },
    socketUrl: (name) => `postgresql://postgres@localhost/${name}?host=${encodeURIComponent(dir)}&port=${port}`,
    pause: () => asPostgres(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]),
    resume: () => asPostgres(join(bin, "pg_ctl"), ["-D", data, "-o", options, "-l", join(dir, "server.log"), "-w", "start"]),
    stop,
  };
}
