// `npm start`: migrates the database, builds the web app when its build is missing or stale,
// then runs the DTCP daemon (with its live-session API on loopback) and the web app (Next.js plus
// the /api/live WebSocket relay to that API, bin/broker-web.js) side by side, starting again
// whichever dies, until a signal stops the broker. One broker per data directory.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { constants, hostname } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { resolvePaths } from "./config.ts";
import { loadOrCreateApiKey } from "./api/token.ts";
import { apiTarget, DEFAULT_API_LISTEN, withApiListen } from "./launch/api-listen.ts";
import { sourceHash } from "./launch/build-hash.ts";
import { awaitInstanceLock, holdInstanceLock, lockName, type InstanceLock } from "./launch/instance-lock.ts";
import { LIFELINE_ENV } from "./launch/lifeline.ts";
import { RestartSchedule } from "./launch/restart-schedule.ts";
import { DEFAULT_WEB_LISTEN, parseListen, publicBaseUrl } from "./launch/listen.ts";
import { chownTree, ensureSystemUser, unreadableFor, type SystemUser } from "./launch/web-user.ts";
import { loadOrCreateSecretKey } from "./secrets/tunnel-password.ts";
import { openStorage } from "./storage/storage.ts";

const appDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const nextBin = join(appDir, "node_modules", "next", "dist", "bin", "next");
const buildHashFile = join(appDir, ".next", "broker-source-hash");
const buildLogFile = join(appDir, ".next", "broker-build.log");

const say = (line: string) => process.stdout.write(`broker: ${line}\n`);

/** How long a new broker waits for a previous one on the same data directory to finish stopping. */
const LOCK_WAIT_MS = 20_000;

class LaunchError extends Error {}

/** Builds the web app unless .next holds a build of exactly these sources. */
function buildIfNeeded(): void {
  const hash = sourceHash(appDir);
  const built = existsSync(join(appDir, ".next", "BUILD_ID")) && existsSync(buildHashFile) && readFileSync(buildHashFile, "utf8") === hash;
  if (built) return;
  say("building the web app (next build); this takes a few minutes on a small machine");
  const started = Date.now();
  // Next's progress and route table go to a log: an operator needs them only when the build fails.
  const result = spawnSync(process.execPath, [nextBin, "build"], {
    cwd: appDir,
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, NODE_ENV: "production", NEXT_TELEMETRY_DISABLED: "1" },
  });
  mkdirSync(dirname(buildLogFile), { recursive: true });
  writeFileSync(buildLogFile, Buffer.concat([result.stdout ?? Buffer.alloc(0), result.stderr ?? Buffer.alloc(0)]));
  if (result.status !== 0) {
    const tail = readFileSync(buildLogFile, "utf8").trimEnd().split("\n").slice(-40).join("\n");
    process.stderr.write(`${tail}\n`);
    throw new LaunchError(`next build failed (exit ${result.status ?? result.signal}); its whole output is in ${buildLogFile}`);
  }
  writeFileSync(buildHashFile, hash);
  say(`web app built in ${Math.round((Date.now() - started) / 1000)} s (log: ${buildLogFile})`);
}

/** The unprivileged account for the web app when we run as root, with the data directory handed to it. */
function prepareWebUser(dataDir: string): SystemUser | null {
  if (process.getuid?.() !== 0) return null;
  const user = ensureSystemUser(process.env.BROKER_WEB_USER ?? "dtcp-broker");
  const problem = unreadableFor(user, [join(appDir, "package.json"), nextBin, join(appDir, "node_modules", "react", "package.json")]);
  if (problem) {
    throw new LaunchError(
      `the web app runs as the unprivileged user ${user.name}, who cannot read the application directory ${appDir} (${problem}). ` +
        "Put the checkout where that user can read it (not under /root), e.g. /opt/dtcp-broker, or make its parent directories readable.",
    );
  }
  // The daemon stays root and can still read everything; SQLite gives the files it creates as root
  // (WAL, shared memory) the owner of the database file.
  chownTree(dataDir, user);
  return user;
}

/**
 * Where `npm start` offers IPv6 over TCP and TLS: unprivileged ports, free of the web app and its
 * API. Behind firewalls that let only web traffic out, TLS on 443 is what gets through: give
 * `npm start -- -U --tcp-tunnels 20202 --tls-tunnels 443` where the port is free.
 */
const DEFAULT_TCP_TUNNELS = "20202";
const DEFAULT_TLS_TUNNELS = "20443";

async function main(): Promise<number> {
  const separator = process.argv.indexOf("--");
  const isRoot = process.getuid?.() === 0;
  // Every transport on by default: UDP, and IPv6 over TCP (plain, and TLS with a self-signed certificate).
  const everyTransport = ["-U", "--tcp-tunnels", DEFAULT_TCP_TUNNELS, "--tls-tunnels", DEFAULT_TLS_TUNNELS];
  const givenArgs = separator >= 0 ? process.argv.slice(separator + 1) : isRoot ? everyTransport : [...everyTransport, "--no-dataplane"];
  // The live-session API on loopback unless the arguments say otherwise; the web app relays browsers to it.
  const { args: daemonArgs, listen: apiListen } = withApiListen(givenArgs, process.env.BROKER_API_LISTEN ?? DEFAULT_API_LISTEN);
  apiTarget(apiListen); // a bad value stops here, naming the variable, rather than in both children
  const listen = parseListen(process.env.BROKER_WEB_LISTEN ?? DEFAULT_WEB_LISTEN);
  const paths = resolvePaths();
  mkdirSync(paths.dataDir, { recursive: true, mode: 0o700 });
  // Before anything is touched: another broker may run on this data directory (refused at once),
  // or the children of one whose launcher died may still be shutting down (waited for). Only the
  // launcher holds the first lock; its children hold the second as long as they live.
  await holdInstanceLock(lockName("launcher", paths.dataDir), `the data directory ${paths.dataDir}`);
  const lock = await awaitInstanceLock(lockName("broker", paths.dataDir), `the data directory ${paths.dataDir}`, LOCK_WAIT_MS, (holders) =>
    say(`waiting up to ${LOCK_WAIT_MS / 1000} s for what is left of a previous broker on ${paths.dataDir} (pid ${holders.join(", ") || "?"}) to stop`),
  );

  const storage = await openStorage(paths.databaseUrl, paths);
  let setupToken: string | null;
  try {
    setupToken = await storage.setup.issue();
  } finally {
    await storage.close();
  }
  loadOrCreateSecretKey(paths.secretKeyFile);
  // Both keys exist before the data directory is handed to the web user, so that it owns (and can
  // read) them; the daemon stays root and reads them anyway.
  loadOrCreateApiKey(paths.apiKeyFile);
  const webUser = prepareWebUser(paths.dataDir);
  buildIfNeeded();

  const env = {
    ...process.env,
    BROKER_DATA_DIR: paths.dataDir,
    DATABASE_URL: paths.databaseUrl,
    BROKER_SECRET_KEY_FILE: paths.secretKeyFile,
    BROKER_API_KEY_FILE: paths.apiKeyFile,
    BROKER_API_LISTEN: apiListen,
    BROKER_WEB_LISTEN: `${listen.host.includes(":") ? `[${listen.host}]` : listen.host}:${listen.port}`,
    NEXT_TELEMETRY_DISABLED: "1",
  };
  const base = publicBaseUrl(listen, process.env.BROKER_PUBLIC_HOST ?? hostname());
  const children: ChildSpec[] = [
    { name: "dtcps", args: [join(appDir, "bin", "dtcps.js"), ...daemonArgs], options: { env } },
    {
      name: "the web app",
      args: [join(appDir, "bin", "broker-web.js")],
      options: {
        env: { ...env, NODE_ENV: "production", ...(webUser ? { HOME: paths.dataDir, USER: webUser.name, LOGNAME: webUser.name } : {}) },
        ...(webUser ? { uid: webUser.uid, gid: webUser.gid } : {}),
      },
    },
  ];
  say(`web app on ${base}${webUser ? ` as ${webUser.name}` : ""}`);
  if (setupToken) say(`no administrator yet: open ${base}/setup/${setupToken} within an hour to create one (the link works once)`);
  return supervise(children, lock);
}

interface ChildSpec {
  name: string;
  args: string[];
  options: SpawnOptions;
}

/** Exit code of a child that cannot start as configured (a usage or domain error): starting it again would fail the same way. */
const CONFIGURATION_ERROR = 2;

/**
 * Runs the children until a signal asks everything to stop. A child that dies is started again
 * after a back-off (no more than five times a minute) while the other keeps running; one that
 * reports a configuration error stops the broker.
 */
async function supervise(specs: ChildSpec[], lock: InstanceLock): Promise<number> {
  let stopping: NodeJS.Signals | null = null;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (finish = resolve));
  const running = new Map<ChildSpec, ChildProcess>();
  const pending = new Set<NodeJS.Timeout>();
  const schedules = new Map(specs.map((spec) => [spec, new RestartSchedule()]));
  let failure = 0;

  const settleIfDone = () => {
    if (stopping !== null && running.size === 0) finish(failure);
  };
  const stopAll = (signal: NodeJS.Signals) => {
    stopping ??= signal;
    for (const timer of pending) clearTimeout(timer);
    pending.clear();
    for (const child of running.values()) child.kill(signal);
    settleIfDone();
  };
  const launch = (spec: ChildSpec) => {
    const startedAt = Date.now();
    // Own process groups: a terminal's Ctrl-C reaches the launcher alone, which forwards it once.
    // fd 3 is the child's lifeline (it stops when the launcher is gone), fd 4 the broker's lock,
    // held by the child as long as it lives so that no second broker starts beside an orphan.
    const child = spawn(process.execPath, spec.args, {
      cwd: appDir,
      stdio: ["ignore", "inherit", "inherit", "pipe", lock.fd],
      detached: true,
      ...spec.options,
      env: { ...spec.options.env, [LIFELINE_ENV]: "3" },
    });
    running.set(spec, child);
    child.on("error", (err) => say(`${spec.name} could not start: ${err.message}`));
    child.once("exit", (code, signal) => {
      running.delete(spec);
      const exitCode = codeOf(code, signal);
      if (stopping !== null) {
        // Stopped on request: ending by that signal (or cleanly) is ending as asked.
        if (exitCode !== 0 && exitCode !== codeOf(null, stopping)) failure = Math.max(failure, exitCode);
        return settleIfDone();
      }
      const how = signal ? `was killed by ${signal}` : `exited with ${code}`;
      const upMs = Date.now() - startedAt;
      if (code === CONFIGURATION_ERROR) {
        say(`${spec.name} ${how}: it cannot run as configured (see its message above); stopping the broker`);
        failure = code;
        return stopAll("SIGTERM");
      }
      const schedule = schedules.get(spec)!;
      const delay = schedule.next(upMs, Date.now());
      say(`${spec.name} ${how} after ${formatUptime(upMs)}; starting it again in ${(delay / 1000).toFixed(0)} s (restart ${schedule.inWindow(Date.now())} in the last minute)`);
      const timer = setTimeout(() => {
        pending.delete(timer);
        if (stopping === null) launch(spec);
      }, delay);
      pending.add(timer);
    });
  };

  process.on("SIGTERM", () => stopAll("SIGTERM"));
  process.on("SIGINT", () => stopAll("SIGINT"));
  for (const spec of specs) launch(spec);
  const code = await done;
  await lock.release();
  say("stopped");
  return code;
}

function formatUptime(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

function codeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  // As a shell reports it: 128 + the signal number.
  return 128 + (signal ? constants.signals[signal] : 0);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`broker: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
