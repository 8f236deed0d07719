// `npm start`: migrates the database, builds the web app when its build is missing or stale,
// then runs the DTCP daemon (with its live-session API on loopback) and the web app (Next.js plus
// the /api/live WebSocket relay to that API, bin/broker-web.js) side by side until either stops.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { constants, hostname } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { resolvePaths } from "./config.ts";
import { loadOrCreateApiKey } from "./api/token.ts";
import { apiTarget, DEFAULT_API_LISTEN, withApiListen } from "./launch/api-listen.ts";
import { sourceHash } from "./launch/build-hash.ts";
import { DEFAULT_WEB_LISTEN, parseListen, publicBaseUrl } from "./launch/listen.ts";
import { chownTree, ensureSystemUser, unreadableFor, type SystemUser } from "./launch/web-user.ts";
import { loadOrCreateSecretKey } from "./secrets/tunnel-password.ts";
import { openStorage } from "./storage/storage.ts";

const appDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const nextBin = join(appDir, "node_modules", "next", "dist", "bin", "next");
const buildHashFile = join(appDir, ".next", "broker-source-hash");
const buildLogFile = join(appDir, ".next", "broker-build.log");

const say = (line: string) => process.stdout.write(`broker: ${line}\n`);

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

function start(name: string, args: string[], options: SpawnOptions): ChildProcess {
  // Own process groups: a terminal's Ctrl-C reaches the launcher alone, which forwards it once.
  const child = spawn(process.execPath, args, { cwd: appDir, stdio: "inherit", detached: true, ...options });
  child.on("error", (err) => say(`${name} could not start: ${err.message}`));
  return child;
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
  const daemon = start("dtcps", [join(appDir, "bin", "dtcps.js"), ...daemonArgs], { env });
  const web = start("web app", [join(appDir, "bin", "broker-web.js")], {
    env: { ...env, NODE_ENV: "production", ...(webUser ? { HOME: paths.dataDir, USER: webUser.name, LOGNAME: webUser.name } : {}) },
    ...(webUser ? { uid: webUser.uid, gid: webUser.gid } : {}),
  });
  const base = publicBaseUrl(listen, process.env.BROKER_PUBLIC_HOST ?? hostname());
  say(`web app on ${base}${webUser ? ` as ${webUser.name}` : ""}`);
  if (setupToken) say(`no administrator yet: open ${base}/setup/${setupToken} within an hour to create one (the link works once)`);

  const children = [daemon, web];
  const exited = (child: ChildProcess) =>
    new Promise<number>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(codeOf(child.exitCode, child.signalCode));
      else child.once("exit", (code, signal) => resolve(codeOf(code, signal)));
    });
  let stopping: NodeJS.Signals | null = null;
  const stopAll = (signal: NodeJS.Signals) => {
    stopping = signal;
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  process.on("SIGTERM", () => stopAll("SIGTERM"));
  process.on("SIGINT", () => stopAll("SIGINT"));

  const first = await Promise.race(children.map(async (child) => ({ child, code: await exited(child) })));
  const signalled = stopping as NodeJS.Signals | null; // set by the signal handlers meanwhile
  if (signalled === null) {
    say(`${first.child === daemon ? "dtcps" : "the web app"} exited (${first.code}); stopping the other`);
    stopAll("SIGTERM");
  }
  const codes = await Promise.all(children.map(exited));
  say("stopped");
  if (signalled === null) return first.code;
  // Stopped on request: a child that ended by that signal (or cleanly) ended as asked.
  return Math.max(0, ...codes.filter((code) => code !== codeOf(null, signalled)));
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
