// The daemon as a separate process (bin/dtcps.js), for tests and benchmarks that must see it crash,
// measure its memory, or run it under a small V8 heap.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { resolvePaths } from "../../server/config.ts";
import type { Db } from "../../server/db/client.ts";
import { openStorage } from "../../server/storage/storage.ts";
import { tempDataDir } from "./broker.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** The live-session API's port, when started with it. */
  readonly apiPort: number | null;
  /** /metrics' port, when started with it. */
  readonly metricsPort: number | null;
  readonly dataDir: string;
  readonly db: Db;
  /** Everything the daemon printed so far. */
  log(): string;
  /** Resident set size now and at its peak (VmHWM), in bytes. */
  memory(): { rss: number; peak: number };
  alive(): boolean;
  /** Creates a user; returns the DTCP password. */
  user(name: string): Promise<string>;
  /** Another daemon on the same data directory and options (this one stopped or killed first); its stop() leaves the data. */
  restart(): Promise<DaemonProcess>;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

type DaemonOptions = { nodeFlags?: string[]; args?: string[]; api?: boolean; metrics?: boolean; dataPlane?: boolean };

/**
 * Starts `bin/dtcps.js` on 127.0.0.1 over a scratch data directory, with extra node flags and daemon
 * options; without the data plane unless `dataPlane` (which needs root).
 */
export function startDaemonProcess(options: DaemonOptions = {}): Promise<DaemonProcess> {
  return spawnDaemon(tempDataDir(), options, true);
}

async function spawnDaemon(data: ReturnType<typeof tempDataDir>, options: DaemonOptions, ownsData: boolean): Promise<DaemonProcess> {
  const args = [
    ...(options.nodeFlags ?? []),
    "bin/dtcps.js",
    ...(options.dataPlane ? [] : ["--no-dataplane"]),
    "--listen",
    "127.0.0.1",
    "-p",
    "0",
    ...(options.api ? ["--api-listen", "127.0.0.1:0"] : []),
    ...(options.metrics ? ["--metrics", "127.0.0.1:0"] : []),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, env: data.env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (t: string) => (output += t.slice(0, 1 << 20)));
  child.stderr!.setEncoding("utf8").on("data", (t: string) => (output += t.slice(0, 1 << 20)));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      r(exit);
    }),
  );
  const until = Date.now() + 30_000;
  let port: number | null = null;
  let apiPort: number | null = null;
  let metricsPort: number | null = null;
  while (Date.now() < until && exit === null) {
    port = Number(/dtcps listening on [\d.]+:(\d+)/.exec(output)?.[1] ?? 0) || null;
    apiPort = Number(/live-session API at http:\/\/[\d.]+:(\d+)/.exec(output)?.[1] ?? 0) || null;
    metricsPort = Number(/metrics at http:\/\/[\d.]+:(\d+)/.exec(output)?.[1] ?? 0) || null;
    if (port !== null && (!options.api || apiPort !== null) && (!options.metrics || metricsPort !== null)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (port === null || exit !== null) {
    child.kill("SIGKILL");
    if (ownsData) data.cleanup();
    throw new Error(`dtcps did not start:\n${output}`);
  }
  const storage = await openStorage(data.env.DATABASE_URL!, { secretKeyFile: resolvePaths(data.env).secretKeyFile });
  const { db, users } = storage;
  return {
    child,
    port,
    apiPort,
    metricsPort,
    dataDir: data.dir,
    db,
    log: () => output,
    memory: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
      return { rss: kb("VmRSS"), peak: kb("VmHWM") };
    },
    alive: () => exit === null,
    user: async (name) => (await users.create({ name }, { name: "test" })).tunnelPassword,
    restart: () => spawnDaemon(data, options, false),
    stop: async () => {
      if (exit === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const result = await exited;
      clearTimeout(timer);
      await storage.close();
      if (ownsData) data.cleanup();
      return result;
    },
  };
}
