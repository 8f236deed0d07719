// Control-plane benchmark: DTCP logins per second and daemon memory with many idle sessions.
//
//   npm run bench:control
//
// Starts `bin/dtcps.js --no-dataplane` as a child process on 127.0.0.1 over a scratch data
// directory, drives it over loopback only, checks the session ledger in the database and
// prints the figures next to the targets. Knobs (environment, all optional):
//   BENCH_LEVELS=1,16,64,256   concurrent clients of the login phases
//   BENCH_SECONDS=5            measured seconds per level (after BENCH_WARMUP_SECONDS=1)
//   BENCH_SESSIONS=10000       idle sessions of the memory phase (0 skips it)
//   BENCH_SETTLE_SECONDS=60    longest wait for the daemon's RSS to settle with the idle sessions
//   BENCH_RSS_TRACE=1          samples RSS for the whole BENCH_SETTLE_SECONDS and prints it each second
//   BENCH_PROFILE=1            runs the daemon under --cpu-prof and prints its hottest functions
//   BENCH_SQL_COUNT=1          counts the SQL statements the daemon prepares (bench/sql-count.cjs)
//   BENCH_NODE_FLAGS="…"       extra node flags for the daemon (e.g. --max-semi-space-size=1)
//   BENCH_DAEMON_ROOT=dir      runs <dir>/bin/dtcps.js instead of this checkout's (to compare a change)
//   BENCH_STRICT=1             exits 1 when a target is missed too (by default only failed checks do)
//   BENCH_KEEP=1               keeps the scratch directory (daemon log, profile)
//   BENCH_ENGINE=postgresql    the same on PostgreSQL: a throw-away local server (test/support/postgres.ts;
//                              root and Debian's postgresql), `npm run bench:control:postgres`
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import pg from "pg";
import { DEFAULT_POP } from "../server/repositories/pops/schema.ts";
import { openStorage } from "../server/storage/storage.ts";
import { tunnelResponse } from "../server/protocol/challenge.ts";
import { summarizeProfile, type CpuProfile } from "./cpuprofile.ts";
import { startPostgres, type PostgresServer } from "../test/support/postgres.ts";

const TARGET_LOGINS_PER_S = 2_000;
const TARGET_RSS_MB = 300;

const env = process.env;
const LEVELS = (env.BENCH_LEVELS ?? "1,16,64,256").split(",").map((x) => Number(x.trim())).filter((n) => n > 0);
const MAX_LEVEL = Math.max(0, ...LEVELS);
const MEASURE_MS = Number(env.BENCH_SECONDS ?? 5) * 1000;
const WARMUP_MS = Number(env.BENCH_WARMUP_SECONDS ?? 1) * 1000;
const SESSIONS = Number(env.BENCH_SESSIONS ?? 10_000);
const PROFILE = env.BENCH_PROFILE === "1";
const KEEP = env.BENCH_KEEP === "1";
const RSS_TRACE = env.BENCH_RSS_TRACE === "1";
const SETTLE_MAX_MS = Number(env.BENCH_SETTLE_SECONDS ?? 60) * 1000;
const SQL_COUNT = env.BENCH_SQL_COUNT === "1";
const ENGINE = env.BENCH_ENGINE === "postgresql" ? "postgresql" : "sqlite";

const USERS = Math.max(SESSIONS, 4 * MAX_LEVEL, 1_000);
const PASSWORD = "bench-password-0123";
const OPEN_CONCURRENCY = 256;
const SERVER = "127.0.0.1";
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The checkout whose bin/dtcps.js runs (BENCH_DAEMON_ROOT compares another build of the daemon). */
const DAEMON_ROOT = resolve(env.BENCH_DAEMON_ROOT ?? ROOT);

const userName = (i: number) => `bench${String(i).padStart(5, "0")}`;
const NAMES = Array.from({ length: USERS }, (_, i) => userName(i));

/** Loopback source addresses (a.b.c.d with c, d in 1..254), so the daemon sees many clients and no 4-tuple is reused. */
function loopbackAddresses(second: number, count: number): string[] {
  const out: string[] = [];
  for (let c = 1; out.length < count; c++) for (let d = 1; d <= 254 && out.length < count; d++) out.push(`127.${second}.${c}.${d}`);
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const mb = (kb: number) => (kb / 1024).toFixed(1);

function procStatus(pid: number): { rssKb: number; hwmKb: number } {
  const text = readFileSync(`/proc/${pid}/status`, "latin1");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  return { rssKb: field("VmRSS"), hwmKb: field("VmHWM") };
}

function cpuSeconds(pid: number): number {
  // /proc/<pid>/stat fields 14 and 15 (utime, stime) in clock ticks (100 Hz on Linux).
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// ---- one DTCP login ------------------------------------------------------------------------

class LoginError extends Error {}

/**
 * connect → greeting → `tunnel <user> <md5> tunnelonly` → `+OK …`. Resolves to the latency in ms;
 * with `keep` the socket stays open (an idle authenticated session) and is pushed to `kept`.
 */
function login(port: number, localAddress: string, user: string, keep: Socket[] | null): Promise<number> {
  return new Promise((resolveLogin, reject) => {
    const t0 = performance.now();
    const socket = connect({ host: SERVER, port, localAddress });
    let buffer = "";
    let state = 0; // 0: greeting, 1: tunnel reply, 2: done
    const fail = (why: string) => {
      if (state === 2) return;
      state = 2;
      socket.destroy();
      reject(new LoginError(why));
    };
    socket.setTimeout(20_000, () => fail("no answer within 20 s"));
    socket.on("error", (err) => fail(err.message));
    socket.on("close", () => fail(`closed by the server (${state === 0 ? "before the greeting" : "before the reply"})`));
    socket.on("data", (chunk: Buffer) => {
      if (state === 2) return;
      buffer += chunk.toString("latin1");
      const nl = buffer.indexOf("\n");
      if (nl < 0) return;
      const line = buffer.slice(0, buffer.charCodeAt(nl - 1) === 13 ? nl - 1 : nl);
      buffer = buffer.slice(nl + 1);
      if (state === 0) {
        if (!line.startsWith("+OK ")) return fail(`greeting: ${line}`);
        const challenge = line.slice(4, line.indexOf(" ", 4));
        state = 1;
        socket.write(`tunnel ${user} ${tunnelResponse(user, challenge, PASSWORD).toUpperCase()} tunnelonly\r\n`, "latin1");
        return;
      }
      if (!line.startsWith("+OK ")) return fail(`reply: ${line}`);
      state = 2;
      const latency = performance.now() - t0;
      socket.setTimeout(0);
      if (keep) {
        keep.push(socket);
        socket.removeAllListeners("data");
        socket.removeAllListeners("close");
      } else {
        socket.destroy();
      }
      resolveLogin(latency);
    });
  });
}

// ---- daemon ---------------------------------------------------------------------------------

interface Daemon {
  child: ChildProcess;
  pid: number;
  port: number;
  logFile: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startDaemon(dataDir: string, dbUrl: string): Promise<Daemon> {
  const logFile = join(dataDir, "dtcps.log");
  const fd = openSync(logFile, "a");
  const childEnv: NodeJS.ProcessEnv = { ...env, BROKER_DATA_DIR: dataDir, DATABASE_URL: dbUrl, NODE_OPTIONS: "" };
  const nodeFlags = (env.BENCH_NODE_FLAGS ?? "").split(" ").filter((x) => x !== "");
  if (PROFILE) nodeFlags.push("--cpu-prof", `--cpu-prof-dir=${join(dataDir, "prof")}`);
  if (SQL_COUNT) {
    nodeFlags.push("--require", join(ROOT, "bench/sql-count.cjs"));
    childEnv.BENCH_SQL_COUNT_FILE = join(dataDir, "sql-count.txt");
  }
  const child = spawn(
    process.execPath,
    [...nodeFlags, "bin/dtcps.js", "--no-dataplane", "--listen", SERVER, "-p", "0", "--max-unauth-per-ip", "1000000"],
    // The daemon logs every session start and end: straight into a file, so this process never reads them.
    { cwd: DAEMON_ROOT, env: childEnv, stdio: ["ignore", fd, fd] },
  );
  closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once("exit", (code, signal) => r({ code, signal })),
  );
  let early: { code: number | null } | null = null;
  void exited.then((e) => (early = e));
  const started = performance.now();
  for (;;) {
    const match = /dtcps listening on 127\.0\.0\.1:(\d+)/.exec(readFileSync(logFile, "utf8"));
    if (match) return { child, pid: child.pid!, port: Number(match[1]), logFile, exited };
    if (early) throw new Error(`dtcps exited during start-up:\n${readFileSync(logFile, "utf8")}`);
    if (performance.now() - started > 30_000) throw new Error("dtcps did not start listening within 30 s");
    await sleep(50);
  }
}

/** How many live sessions `dtcpctl sessions --live --json` lists (the operator's view of the same ledger). */
function dtcpctlLiveSessions(dataDir: string, dbUrl: string, limit: number): Promise<number> {
  return new Promise((resolveCount, reject) => {
    execFile(
      process.execPath,
      ["bin/dtcpctl.js", "sessions", "--live", "--json", "--limit", String(limit)],
      { cwd: DAEMON_ROOT, env: { ...env, BROKER_DATA_DIR: dataDir, DATABASE_URL: dbUrl, NODE_OPTIONS: "" }, maxBuffer: 256 << 20 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`dtcpctl sessions failed: ${stderr || err.message}`));
        resolveCount((JSON.parse(stdout) as unknown[]).length);
      },
    );
  });
}

// ---- database checks (a read-only side connection; WAL lets it read while the daemon writes) --

/** The daemon's session rows, read straight from the database. */
class Ledger {
  readonly #count: (where: string) => Promise<number>;
  readonly #reasons: () => Promise<{ r: string; n: number }[]>;
  readonly #close: () => Promise<void>;

  constructor(dbUrl: string) {
    const reasons = `SELECT COALESCE("endReason", '(open)') AS r, COUNT(*) AS n FROM "Session" GROUP BY 1 ORDER BY 2 DESC`;
    if (dbUrl.startsWith("file:")) {
      const db = new Database(dbUrl.slice("file:".length), { readonly: true, fileMustExist: true });
      this.#count = async (where) => (db.prepare(`SELECT COUNT(*) AS n FROM "Session" WHERE ${where}`).get() as { n: number }).n;
      this.#reasons = async () => db.prepare(reasons).all() as { r: string; n: number }[];
      this.#close = async () => {
        db.close();
      };
    } else {
      const pool = new pg.Pool({ connectionString: dbUrl, max: 1 });
      this.#count = async (where) => (await pool.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM "Session" WHERE ${where}`)).rows[0]!.n;
      this.#reasons = async () => (await pool.query<{ r: string; n: number }>(reasons.replace("COUNT(*)", "COUNT(*)::int"))).rows;
      this.#close = () => pool.end();
    }
  }
  rows(): Promise<number> {
    return this.#count("TRUE");
  }
  open(): Promise<number> {
    return this.#count('"endedAt" IS NULL');
  }
  count(where: string): Promise<number> {
    return this.#count(where);
  }
  async reasons(): Promise<string> {
    return (await this.#reasons()).map((x) => `${x.r} ${x.n}`).join(", ") || "none";
  }
  /** Waits until the ledger has `open` rows still open; returns how long it took. */
  async waitOpen(expected: number, timeoutMs = 60_000): Promise<number> {
    const t0 = performance.now();
    while ((await this.open()) !== expected) {
      if (performance.now() - t0 > timeoutMs) throw new Error(`ledger: ${await this.open()} open rows, expected ${expected} (${await this.reasons()})`);
      await sleep(100);
    }
    return performance.now() - t0;
  }
  close(): Promise<void> {
    return this.#close();
  }
}

// ---- phases ---------------------------------------------------------------------------------

interface LevelResult {
  n: number;
  logins: number;
  seconds: number;
  p50: number;
  p99: number;
  max: number;
  daemonCpu: number;
  clientCpu: number;
}

let userCursor = 0;
let addressCursor = 0;
const nextUser = () => NAMES[userCursor++ % USERS]!;
const LOGIN_ADDRESSES = loopbackAddresses(1, 4_064);
const nextAddress = () => LOGIN_ADDRESSES[addressCursor++ % LOGIN_ADDRESSES.length]!;

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const failures: string[] = [];
let completed = 0;

async function runLevel(port: number, daemonPid: number, n: number): Promise<LevelResult> {
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let measuring = false;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      try {
        const latency = await login(port, nextAddress(), nextUser(), null);
        completed++;
        if (measuring) {
          if (count === latencies.length) {
            const bigger = new Float64Array(latencies.length * 2);
            bigger.set(latencies);
            latencies = bigger;
          }
          latencies[count++] = latency;
        }
      } catch (err) {
        failures.push(`N=${n}: ${(err as Error).message}`);
        if (failures.length > 20) stop = true;
      }
    }
  };
  const workers = Array.from({ length: n }, worker);
  await sleep(WARMUP_MS);
  const cpu0 = cpuSeconds(daemonPid);
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  await sleep(MEASURE_MS);
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const daemonCpu = (cpuSeconds(daemonPid) - cpu0) / seconds;
  const own = process.cpuUsage(own0);
  const clientCpu = (own.user + own.system) / 1e6 / seconds;
  stop = true;
  await Promise.all(workers);
  const sorted = latencies.slice(0, count).sort();
  return { n, logins: count, seconds, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[count - 1] ?? NaN, daemonCpu, clientCpu };
}

async function openSessions(port: number, count: number): Promise<{ sockets: Socket[]; seconds: number; p50: number; p99: number }> {
  const sockets: Socket[] = [];
  const addresses = loopbackAddresses(2, count);
  const latencies = new Float64Array(count);
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      try {
        latencies[i] = await login(port, addresses[i]!, NAMES[i]!, sockets);
      } catch (err) {
        latencies[i] = NaN;
        failures.push(`session ${i}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count) }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const sorted = latencies.filter((x) => !Number.isNaN(x)).sort();
  return { sockets, seconds, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
}

/**
 * Leaves the daemon alone and samples its RSS every 500 ms. V8 returns the garbage of the login burst
 * only when its memory reducer runs a full GC, some tens of seconds after allocation stops; so this waits
 * for RSS to fall at least 10 % below its highest sample and then hold still (±1 %) for 3 s, or gives up
 * after SETTLE_MAX_MS and reports what it has.
 */
async function settledRss(pid: number): Promise<{ rssKb: number; waitedS: number; dropped: boolean; trace: number[] }> {
  const samples: number[] = [];
  const t0 = performance.now();
  for (;;) {
    await sleep(500);
    samples.push(procStatus(pid).rssKb);
    const recent = samples.slice(-7);
    const waited = performance.now() - t0;
    const stable = recent.length === 7 && Math.max(...recent) - Math.min(...recent) <= 0.01 * Math.max(...recent);
    const dropped = samples.at(-1)! <= 0.9 * Math.max(...samples);
    if ((stable && dropped && !RSS_TRACE) || waited >= SETTLE_MAX_MS) {
      return { rssKb: samples.at(-1)!, waitedS: waited / 1000, dropped, trace: samples.filter((_, i) => i % 2 === 1) };
    }
  }
}

// ---- main -----------------------------------------------------------------------------------

function verdict(ok: boolean): string {
  return ok ? "PASS" : "MISS";
}

async function main(): Promise<number> {
  const benchStart = performance.now();
  const dataDir = mkdtempSync(join(tmpdir(), "dtcp-bench-"));
  let postgres: PostgresServer | null = null;
  let dbUrl = `file:${join(dataDir, "broker.db")}`;
  if (ENGINE === "postgresql") {
    postgres = await startPostgres();
    dbUrl = await postgres.database("bench");
  }
  console.log(`engine: ${ENGINE === "postgresql" ? `PostgreSQL (throw-away local server on port ${postgres!.port})` : "SQLite"}`);
  let daemon: Daemon | null = null;
  let ok = true;
  try {
    // 1. users, sealed with the key the daemon will read
    const t0 = performance.now();
    const storage = await openStorage(dbUrl, { secretKeyFile: join(dataDir, "secret.key") });
    // Rows written in bulk, faster than a repository call per user.
    const { db, box } = storage;
    try {
      const pop = await db.pop.findUniqueOrThrow({ where: { name: DEFAULT_POP } });
      for (let i = 0; i < USERS; i += 2_000) {
        await db.user.createMany({
          data: NAMES.slice(i, i + 2_000).map((name) => ({ name, tunnelPassword: box.seal(name, PASSWORD), allowedTypes: "tunnelonly,host,network", popId: pop.id })),
        });
      }
    } finally {
      await storage.close();
    }
    console.log(`setup: ${USERS} users in ${((performance.now() - t0) / 1000).toFixed(1)} s, data in ${dataDir}`);

    // 2. daemon
    daemon = await startDaemon(dataDir, dbUrl);
    const ledger = new Ledger(dbUrl);
    await sleep(500);
    const idle = procStatus(daemon.pid);
    console.log(`dtcps pid ${daemon.pid} on ${SERVER}:${daemon.port}${PROFILE ? " (under --cpu-prof)" : ""}; RSS at start ${mb(idle.rssKb)} MB`);

    // 3. logins per second
    console.log(`\nlogins: connect → greeting → tunnel <user> <md5> tunnelonly → +OK → close; ${WARMUP_MS / 1000} s warm-up + ${MEASURE_MS / 1000} s per level`);
    console.log("     N   logins/s   p50 ms   p99 ms   max ms   daemon CPU   bench CPU");
    const results: LevelResult[] = [];
    for (const n of LEVELS) {
      const r = await runLevel(daemon.port, daemon.pid, n);
      results.push(r);
      console.log(
        `${String(n).padStart(6)} ${(r.logins / r.seconds).toFixed(0).padStart(10)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${r.max.toFixed(1).padStart(8)} ${(r.daemonCpu * 100).toFixed(0).padStart(11)}% ${(r.clientCpu * 100).toFixed(0).padStart(10)}%`,
      );
      // Let the ledger catch up so the next level starts from a quiet daemon.
      await ledger.waitOpen(0);
    }
    const rows = await ledger.rows();
    console.log(`ledger: ${rows} session rows for ${completed} logins answered +OK (warm-ups included), all ended (${await ledger.reasons()})`);
    if (rows < completed) {
      ok = false;
      console.log(`FAIL: fewer session rows (${rows}) than logins (${completed})`);
    }
    if ((await ledger.count(`"endReason" = 'replaced'`)) > 0) {
      ok = false;
      console.log("FAIL: some sessions were replaced, though no user logs in twice at once");
    }
    const best = results.length > 0 ? results.reduce((a, b) => (b.logins / b.seconds > a.logins / a.seconds ? b : a)) : null;

    // 4. memory with idle sessions
    let sessionRss: number | null = null;
    if (SESSIONS > 0) {
      const before = procStatus(daemon.pid);
      console.log(`\nidle sessions: RSS before ${mb(before.rssKb)} MB (peak so far ${mb(before.hwmKb)} MB)`);
      const opened = await openSessions(daemon.port, SESSIONS);
      console.log(
        `  ${opened.sockets.length}/${SESSIONS} sessions up in ${opened.seconds.toFixed(1)} s from ${SESSIONS} loopback addresses (p50 ${opened.p50.toFixed(1)} ms, p99 ${opened.p99.toFixed(1)} ms)`,
      );
      await ledger.waitOpen(opened.sockets.length, 30_000);
      const burst = procStatus(daemon.pid);
      const settled = await settledRss(daemon.pid);
      sessionRss = settled.rssKb;
      if (RSS_TRACE) console.log(`  RSS each second: ${settled.trace.map((kb) => mb(kb)).join(" ")}`);
      const live = await ledger.open();
      const listed = await dtcpctlLiveSessions(dataDir, dbUrl, SESSIONS + 100);
      console.log(`  ledger: ${live} live rows (endedAt null); \`dtcpctl sessions --live --json\` lists ${listed}`);
      console.log(`  RSS right after the logins ${mb(burst.rssKb)} MB (peak ${mb(burst.hwmKb)} MB): garbage of the login burst not yet collected`);
      console.log(
        settled.dropped
          ? `  RSS settled at ${mb(settled.rssKb)} MB after ${settled.waitedS.toFixed(1)} s idle (V8's memory reducer ran); ` +
              `${((settled.rssKb - idle.rssKb) / Math.max(1, opened.sockets.length)).toFixed(1)} kB per session over the RSS at start`
          : `  RSS did not fall within ${settled.waitedS.toFixed(0)} s idle: ${mb(settled.rssKb)} MB`,
      );
      if (live !== SESSIONS || listed !== SESSIONS || opened.sockets.length !== SESSIONS) {
        ok = false;
        console.log(`FAIL: expected ${SESSIONS} live sessions`);
      }
      // Clients leave; every row must end.
      const t1 = performance.now();
      for (const s of opened.sockets) s.destroy();
      await ledger.waitOpen(0);
      console.log(`  ${opened.sockets.length} clients closed: all rows ended within ${((performance.now() - t1) / 1000).toFixed(1)} s`);
    }

    // 5. stop
    const hwm = procStatus(daemon.pid).hwmKb;
    const t2 = performance.now();
    daemon.child.kill("SIGTERM");
    const exit = await Promise.race([daemon.exited, sleep(30_000).then(() => null)]);
    if (exit === null) {
      ok = false;
      console.log("FAIL: dtcps did not exit within 30 s of SIGTERM");
      daemon.child.kill("SIGKILL");
      await daemon.exited;
    } else if (exit.code !== 0) {
      ok = false;
      console.log(`FAIL: dtcps exited with ${exit.code ?? exit.signal}`);
    } else {
      console.log(`\ndtcps stopped on SIGTERM in ${((performance.now() - t2) / 1000).toFixed(1)} s, exit 0; peak RSS ${mb(hwm)} MB`);
    }
    const log = readFileSync(daemon.logFile, "utf8");
    const warnings = log.split("\n").filter((l) => l.includes(" warning: "));
    if (warnings.length > 0) {
      ok = false;
      console.log(`FAIL: ${warnings.length} warnings in the daemon log, first: ${warnings.slice(0, 3).join(" | ")}`);
    }
    await ledger.close();
    daemon = null;

    if (failures.length > 0) {
      ok = false;
      console.log(`FAIL: ${failures.length} logins failed, first: ${failures.slice(0, 5).join(" | ")}`);
    }

    console.log(`\nresult (${ENGINE})                figure        target       `);
    let missed = false;
    if (best) {
      const rate = best.logins / best.seconds;
      missed ||= rate < TARGET_LOGINS_PER_S;
      console.log(`logins/s (best, N=${String(best.n).padEnd(3)})       ${rate.toFixed(0).padStart(8)}      ≥ ${TARGET_LOGINS_PER_S}      ${verdict(rate >= TARGET_LOGINS_PER_S)}`);
    }
    if (sessionRss !== null) {
      missed ||= sessionRss / 1024 > TARGET_RSS_MB;
      console.log(
        `RSS with ${SESSIONS} sessions     ${mb(sessionRss).padStart(8)} MB   ≤ ${TARGET_RSS_MB} MB    ${verdict(sessionRss / 1024 <= TARGET_RSS_MB)}`,
      );
    }
    console.log(`checks                            ${ok ? "all passed" : "FAILED"}; total ${((performance.now() - benchStart) / 1000).toFixed(0)} s`);

    if (SQL_COUNT) console.log(`\nSQL statements prepared by the daemon:\n${readFileSync(join(dataDir, "sql-count.txt"), "utf8")}`);
    if (PROFILE) {
      // One profile per thread: the main thread's is the largest (the other is tsx's module loader).
      const dir = join(dataDir, "prof");
      const files = readdirSync(dir)
        .filter((x) => x.endsWith(".cpuprofile"))
        .map((f) => ({ f, text: readFileSync(join(dir, f), "utf8") }))
        .sort((a, b) => b.text.length - a.text.length);
      if (files[0]) {
        console.log(`\ndaemon CPU profile (main thread) ${join(dir, files[0].f)}${KEEP ? "" : " (removed; BENCH_KEEP=1 keeps it)"}:`);
        console.log(summarizeProfile(JSON.parse(files[0].text) as CpuProfile, 30));
      }
    }
    return ok && !(missed && env.BENCH_STRICT === "1") ? 0 : 1;
  } finally {
    if (daemon) {
      daemon.child.kill("SIGKILL");
      await daemon.exited;
    }
    if (KEEP) console.log(`kept ${dataDir}`);
    else rmSync(dataDir, { recursive: true, force: true });
    postgres?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
