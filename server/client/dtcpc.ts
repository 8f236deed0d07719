// dtcpc: the Linux DTCP client. Logs in, keeps a TUN-backed tunnel up and, with -l, reconnects.

import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { runMain, UsageError } from "../cli/args.ts";
import { consoleLogger, type Logger } from "../log.ts";
import { DEFAULT_AUTH_FILES, DEFAULT_PID_FILE, parseDtcpcArgs, type DtcpcOptions } from "./args.ts";
import { findCredentials, parseAuthFile, type AuthFile } from "./auth-file.ts";
import { Backoff } from "./backoff.ts";
import { ChallengeMemory, ClientSession, type PacketTransport } from "./client-session.ts";
import { askPassword } from "./prompt.ts";

/** One way of connecting: how the packets travel, and whether the control connection is inside TLS. */
export interface Rung {
  packets: PacketTransport;
  tls: boolean;
}

/**
 * What is tried, in order, each until one carries packets both ways. --transport auto: UDP, then
 * TCP, then TLS. With a certificate to check (--pin, --ca) every control connection is inside TLS,
 * so no login goes out before the server has shown it: UDP, then TCP, both behind TLS.
 */
export function ladder(options: DtcpcOptions): Rung[] {
  const { control } = options.tls;
  switch (options.transport) {
    case "auto":
      return control
        ? [{ packets: "udp", tls: true }, { packets: "tcp", tls: true }]
        : [{ packets: "udp", tls: false }, { packets: "tcp", tls: false }, { packets: "tcp", tls: true }];
    case "tls":
      return [{ packets: "tcp", tls: true }];
    default:
      return [{ packets: options.transport, tls: control }];
  }
}

/** How soon after the tunnel is up something must come back over UDP (the server answers keepalives). */
export const UDP_PROBE_MS = 5_000;
const NAMES: Record<PacketTransport, string> = { proto41: "protocol 41", udp: "UDP", tcp: "TCP" };
const name = (rung: Rung): string => (rung.packets === "tcp" && rung.tls ? "TLS" : `${NAMES[rung.packets]}${rung.tls ? " (control over TLS)" : ""}`);

function readAuthFiles(options: DtcpcOptions, log: Logger): AuthFile[] {
  const files: AuthFile[] = [];
  for (const path of [...(options.authFile === null ? [] : [options.authFile]), ...DEFAULT_AUTH_FILES]) {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (path === options.authFile) throw new UsageError(`--auth-file ${path}: ${e.code ?? e.message}`);
      if (e.code !== "ENOENT") log.warn(`cannot read ${path}: ${e.code ?? e.message}`);
      continue;
    }
    const file = parseAuthFile(path, text);
    if (file.malformed.length > 0) log.warn(`${path}: ignoring malformed line(s) ${file.malformed.join(", ")} (expected server:user:password)`);
    files.push(file);
  }
  return files;
}

async function credentials(options: DtcpcOptions, log: Logger): Promise<{ user: string; password: string }> {
  const files = readAuthFiles(options, log);
  const found = findCredentials(files, options.server, options.user);
  switch (found.kind) {
    case "found":
      log.debug(`password of ${found.user}@${options.server} from ${found.path}`);
      return found;
    case "ambiguous":
      throw new UsageError(`${found.path} lists several users for ${options.server} (${found.users.join(", ")}); choose one with -u`);
    case "missing":
      if (options.background) throw new UsageError(`-D runs without a terminal to ask for a password: put ${options.server}:<user>:<password> in an auth file (--auth-file)`);
      if (options.user === null) {
        throw new UsageError(`no user: give -u (no auth file lists ${options.server}; searched ${files.map((f) => f.path).join(", ") || "nothing readable"})`);
      }
      return { user: options.user, password: await askPassword(`DTCP password for ${options.user}@${options.server}: `) };
  }
}

/**
 * Runs sessions until a signal stops us, a session is refused for good, or (without -l) one ends. With
 * --transport auto each connection tries UDP, then TCP, then TLS, until one carries packets both
 * ways, and keeps to that one until it fails.
 */
async function supervise(options: DtcpcOptions, creds: { user: string; password: string }, log: Logger): Promise<void> {
  let current: ClientSession | null = null;
  let stopping = false;
  let reconnectNow = false;
  let wake = (): void => {};
  const stop = (signal: string) => () => {
    log.info(`${signal}: quitting`);
    stopping = true;
    current?.quit(options.keepInterface);
    wake();
  };
  const hup = () => {
    log.info("SIGHUP: reconnecting");
    reconnectNow = true;
    current?.quit();
    wake();
  };
  const onTerm = stop("SIGTERM");
  const onInt = stop("SIGINT");
  process.on("SIGTERM", onTerm);
  process.on("SIGINT", onInt);
  process.on("SIGHUP", hup);
  const backoff = new Backoff();
  const rungs = ladder(options);
  const auto = rungs.length > 1;
  const challenges = new ChallengeMemory();
  let rung = 0;
  let settledOn: Rung | null = null;
  try {
    while (!stopping) {
      reconnectNow = false;
      const transport = rungs[rung]!;
      const onSettled = () => {
        if (!auto || settledOn === transport) return;
        settledOn = transport;
        log.info(`transport: settled on ${name(transport)} (${transport.packets === "udp" ? "the server's answer came back through the tunnel" : "its tunnel connection carried the session"})`);
      };
      current = new ClientSession(options, creds, log, { ...transport, probeMs: auto && transport.packets === "udp" ? UDP_PROBE_MS : null, onSettled, challenges });
      const outcome = await current.run();
      current = null;
      if (stopping) break;
      if (reconnectNow) {
        backoff.reset();
        continue;
      }
      if (outcome.reason === "quit") break;
      if (outcome.reason === "refused") throw new Error(outcome.message);
      if (auto && !outcome.settled && outcome.reason === "lost") {
        // This transport does not get through from here: the next one, at once, unless all failed.
        const next = (rung + 1) % rungs.length;
        log.info(`transport: ${name(transport)} did not work (${outcome.message}); ${next === 0 ? "every transport failed" : `trying ${name(rungs[next]!)}`}`);
        rung = next;
        if (next !== 0) continue;
        settledOn = null;
      }
      // A deferral is the server's answer, not the transport's: ask again the same way after the back-off.
      if (!options.loop) throw new Error(outcome.message);
      const delay = backoff.next(outcome.upMs);
      log.info(`${outcome.message}; reconnecting in ${(delay / 1000).toFixed(1)} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = () => {};
    }
  } finally {
    process.off("SIGTERM", onTerm);
    process.off("SIGINT", onInt);
    process.off("SIGHUP", hup);
  }
}

/** The environment variable that tells a copy of dtcpc it is the background one of -D. */
const BACKGROUND = "DTCPC_IN_BACKGROUND";

/**
 * -D: the same command line again, detached, its output in the log file; this process says where
 * and exits. Node cannot fork, so the copy is a new process reading the same auth file.
 */
function goToBackground(options: DtcpcOptions): void {
  const log = openSync(options.logFile, "a", 0o640);
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
    detached: true,
    stdio: ["ignore", log, log],
    env: { ...process.env, [BACKGROUND]: "1" },
  });
  child.unref();
  closeSync(log);
  process.stdout.write(`dtcpc: running in the background as pid ${child.pid}, logging to ${options.logFile}\n`);
}

runMain("dtcpc", async () => {
  const options = parseDtcpcArgs(process.argv.slice(2));
  const log = consoleLogger(options.debug);
  const creds = await credentials(options, log);
  if (options.background && process.env[BACKGROUND] !== "1") return goToBackground(options);
  const pidFile = options.pidFile ?? (options.background ? DEFAULT_PID_FILE : null);
  if (pidFile !== null) writeFileSync(pidFile, `${process.pid}\n`);
  try {
    await supervise(options, creds, log);
  } finally {
    if (pidFile !== null) rmSync(pidFile, { force: true });
  }
}, { stamped: true });
