// The web app under hostile load: npm run fuzz:web
//
// Starts the broker as `npm start` does (bin/broker.js, the daemon without its data plane) on
// 127.0.0.1 over a scratch data directory, finds the web app's process, and over loopback only:
//   1. bodies: FUZZ_WEB_BODIES (default 100) connections each POST /sign-in declaring 16 MiB and
//      sending 11 MiB, as many again streaming a chunked body of 11 MiB, then stalling; half from
//      one address, half from an address each;
//   2. slow requests: FUZZ_WEB_SLOW (default 8,000) server-action POSTs from one address and
//      FUZZ_WEB_SPREAD (default 2,000) from an address each, trickling a byte every 10 s, held for
//      FUZZ_WEB_HOLD seconds (default 40: past the 30 s request timeout).
// Meanwhile a visitor from its own address loads /sign-in and a signed-in administrator
// /admin/users, every 500 ms. Prints the connections the web app held (its descriptors), its peak
// RSS against the bound, what the limits cut, and whether both were served throughout. Exits 1
// when a check fails.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolvePaths } from "../server/config.ts";
import { openStorage } from "../server/storage/storage.ts";
import { freePort } from "../test/support/ports.ts";

const env = process.env;
const BODIES = Number(env.FUZZ_WEB_BODIES ?? 100);
const SLOW = Number(env.FUZZ_WEB_SLOW ?? 8_000);
const SPREAD = Number(env.FUZZ_WEB_SPREAD ?? 2_000);
const HOLD_S = Number(env.FUZZ_WEB_HOLD ?? 40);
/** What the web app may reach at its peak under all of this (it starts near 200 MB). */
const RSS_BOUND_MB = 512;
/** Descriptors beyond its connections' (files, pipes, the database, Next's own). */
const DESCRIPTOR_SLACK = 200;
/** Connections outside the reserve, plus the reserve (server/web/http-limits.ts defaults). */
const CONNECTION_BOUND = 1024 + 64;

const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
  return ok ? "ok" : "FAILED";
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const connectedAt = new WeakMap<Socket, number>();

/** Requests of one kind made through the run: how many, how many answered 200, the slowest. */
class Probe {
  tries = 0;
  ok = 0;
  worst = 0;
  #pending = new Set<Promise<void>>();

  time(run: () => Promise<number>): Promise<void> {
    const started = performance.now();
    this.tries++;
    const p = run()
      .then((status) => {
        if (status === 200) this.ok++;
      })
      .catch(() => {})
      .finally(() => {
        this.worst = Math.max(this.worst, performance.now() - started);
        this.#pending.delete(p);
      });
    this.#pending.add(p);
    return p;
  }

  async settled(): Promise<void> {
    await Promise.all(this.#pending);
  }
}


const dataDir = mkdtempSync(join(tmpdir(), "dtcp-fuzz-web-"));
const [webPort, dtcpPort, apiPort] = [await freePort(), await freePort(), await freePort()];
const brokerEnv = {
  ...env,
  BROKER_DATA_DIR: dataDir,
  DATABASE_URL: `file:${join(dataDir, "broker.db")}`,
  BROKER_WEB_LISTEN: `127.0.0.1:${webPort}`,
  BROKER_API_LISTEN: `127.0.0.1:${apiPort}`,
  NEXT_TELEMETRY_DISABLED: "1",
};
const launcher = spawn(process.execPath, ["bin/broker.js", "--", "--no-dataplane", "--listen", "127.0.0.1", "-p", String(dtcpPort)], { env: brokerEnv, stdio: ["ignore", "pipe", "pipe"], detached: true });
let launcherLog = "";
launcher.stdout.on("data", (d: Buffer) => (launcherLog += d.toString()));
launcher.stderr.on("data", (d: Buffer) => (launcherLog += d.toString()));
const base = `http://127.0.0.1:${webPort}`;

try {
  // A first start may build the web app: minutes on a small machine.
  for (const until = Date.now() + 15 * 60_000; ; await sleep(500)) {
    if (launcher.exitCode !== null) throw new Error(`the broker exited during start-up:\n${launcherLog.slice(-2000)}`);
    if (Date.now() > until) throw new Error("the web app did not answer in time");
    if ((await get("/sign-in", "127.0.0.1").catch(() => 0)) === 200) break;
  }
  const webPid = findWebProcess(launcher.pid!);
  console.log(`fuzz:web: web app pid ${webPid} on ${base}`);

  const storage = await openStorage(brokerEnv.DATABASE_URL, resolvePaths(brokerEnv));
  const { user } = await storage.users.create({ name: "fuzzadmin", role: "admin" }, { name: "fuzz" }, { webPassword: "fuzz-admin-password" });
  const { token } = await storage.webSessions.start(user, "fuzz", "127.0.9.2");
  await storage.close();
  const adminCookie = `broker_session=${token}`;

  // Samples and probes, all through the run.
  let peakRss = 0;
  let peakFds = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssOf(webPid));
    peakFds = Math.max(peakFds, descriptorsOf(webPid));
  }, 200);
  const probes = { visitor: new Probe(), admin: new Probe() };
  const probing = setInterval(() => {
    void probes.visitor.time(() => get("/sign-in", "127.0.9.1"));
    void probes.admin.time(() => get("/admin/users", "127.0.9.2", adminCookie));
  }, 500);
  const startRss = rssOf(webPid);

  // 1. Bodies.
  const sockets: Socket[] = [];
  const half = Math.floor(BODIES / 2);
  const bodyAddress = (i: number) => (i < half ? "127.0.10.1" : `127.0.${11 + Math.floor(i / 250)}.${(i % 250) + 1}`);
  const answers: Promise<string>[] = [];
  for (let i = 0; i < BODIES; i++) answers.push(body(bodyAddress(i), true, sockets));
  for (let i = 0; i < BODIES; i++) answers.push(body(bodyAddress(i), false, sockets));
  await sleep(4_000);
  const bodyRss = peakRss;
  const refused = (await Promise.race([Promise.all(answers), sleep(10_000).then(() => null)])) ?? [];
  const statuses = countBy(refused.map((a) => /^HTTP\/1\.1 (\d{3})/.exec(a)?.[1] ?? "none"));
  for (const s of sockets.splice(0)) s.destroy();
  console.log(`bodies: ${BODIES * 2} posts of 11 MiB (declared 16 MiB, or chunked), answers ${JSON.stringify(statuses)}; RSS ${mb(startRss)} → peak ${mb(bodyRss)}`);

  // 2. Slow requests.
  const slowStarted = Date.now();
  let opened = 0;
  const trickled: Socket[] = [];
  for (let i = 0; i < SLOW + SPREAD; i++) {
    const address = i < SLOW ? "127.0.20.1" : `127.${1 + Math.floor((i - SLOW) / 60_000)}.${Math.floor(((i - SLOW) % 60_000) / 250) + 1}.${((i - SLOW) % 250) + 1}`;
    trickled.push(slowPost(address));
    opened++;
    if (i % 500 === 499) await sleep(50);
  }
  const trickle = setInterval(() => {
    for (const s of trickled) if (!s.destroyed && s.writable) s.write("a");
  }, 10_000);
  let heldAt20s = 0;
  while (Date.now() - slowStarted < HOLD_S * 1000) {
    await sleep(1_000);
    if (Date.now() - slowStarted >= 20_000 && heldAt20s === 0) heldAt20s = descriptorsOf(webPid);
  }
  // Connections the kernel still had queued (a flood overflows the listen backlog) connect late and
  // get their own 30 s; those that did connect long ago count.
  const stillOpen = trickled.filter((s) => !s.destroyed && (connectedAt.get(s) ?? Infinity) < Date.now() - 32_000).length;
  const heldAtEnd = descriptorsOf(webPid);
  clearInterval(trickle);
  for (const s of trickled) s.destroy();
  console.log(`slow requests: ${opened} opened (${SLOW} from one address, ${SPREAD} from an address each); the web app held ${heldAt20s} descriptors at 20 s and ${heldAtEnd} at ${HOLD_S} s; ${stillOpen} still open`);

  await sleep(2_000);
  clearInterval(probing);
  clearInterval(sampler);
  await Promise.all([probes.visitor.settled(), probes.admin.settled()]);

  console.log("\ncheck                                   figure          target       verdict");
  console.log(`web app peak RSS                    ${mb(peakRss).padStart(10)}    ≤ ${RSS_BOUND_MB} MB    ${check(peakRss <= RSS_BOUND_MB * 2 ** 20, `peak RSS ${mb(peakRss)}`)}`);
  console.log(`descriptors held (peak)             ${String(peakFds).padStart(10)}    ≤ ${CONNECTION_BOUND + DESCRIPTOR_SLACK}       ${check(peakFds <= CONNECTION_BOUND + DESCRIPTOR_SLACK, `${peakFds} descriptors`)}`);
  console.log(`slow requests open after ${HOLD_S} s      ${String(stillOpen).padStart(10)}    0            ${check(stillOpen === 0, `${stillOpen} slow requests outlived the request timeout`)}`);
  // Refused: 413 or 503, or closed at connect ("none": the address held its share of connections).
  const refusedBodies = (statuses["413"] ?? 0) + (statuses["503"] ?? 0) + (statuses.none ?? 0);
  console.log(`bodies refused (413, 503, at connect) ${String(refusedBodies).padStart(8)}    ${BODIES * 2}          ${check(refusedBodies === BODIES * 2, `bodies answered ${JSON.stringify(statuses)}`)}`);
  for (const [who, probe] of Object.entries(probes)) {
    console.log(`${`${who}: served, worst (ms)`.padEnd(36)}${`${probe.ok}/${probe.tries}, ${probe.worst.toFixed(0)}`.padStart(10)}    all          ${check(probe.ok === probe.tries && probe.tries > 0, `${who} served ${probe.ok} of ${probe.tries}`)}`);
  }
} finally {
  try {
    process.kill(-launcher.pid!, "SIGTERM");
  } catch {
    // Already gone.
  }
  await new Promise((resolve) => (launcher.exitCode !== null ? resolve(null) : launcher.once("exit", resolve)));
  rmSync(dataDir, { recursive: true, force: true });
}
if (failures.length > 0) {
  console.log(`\nFAILED: ${failures.join("; ")}`);
  process.exit(1);
}
console.log("\nall checks passed");

function get(path: string, localAddress: string, cookie?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: webPort, path, localAddress, agent: false, headers: cookie ? { cookie } : {}, timeout: 15_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** A POST /sign-in of 11 MiB (declaring 16 MiB, or chunked) that stalls; resolves with what came back. */
function body(localAddress: string, declared: boolean, keep: Socket[]): Promise<string> {
  const socket = connect({ host: "127.0.0.1", port: webPort, localAddress });
  keep.push(socket);
  let text = "";
  socket.on("error", () => {});
  socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
  socket.on("connect", async () => {
    const framing = declared ? `Content-Length: ${16 << 20}` : "Transfer-Encoding: chunked";
    socket.write(`POST /sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\nNext-Action: 0\r\n${framing}\r\n\r\n`);
    const chunk = Buffer.alloc(256 << 10, 0x61);
    for (let sent = 0; sent < 11 << 20 && !socket.destroyed && text === ""; sent += chunk.length) {
      if (!declared) socket.write(`${chunk.length.toString(16)}\r\n`);
      const more = socket.write(chunk);
      if (!declared) socket.write("\r\n");
      if (!more) await new Promise((r) => socket.once("drain", r).once("close", r));
    }
  });
  return new Promise((resolve) => {
    const done = () => resolve(text);
    socket.on("close", done);
    const poll = setInterval(() => {
      if (text !== "") {
        clearInterval(poll);
        done();
      }
    }, 50);
    socket.on("close", () => clearInterval(poll));
  });
}

/** A server-action POST whose body is still to come. */
function slowPost(localAddress: string): Socket {
  const socket = connect({ host: "127.0.0.1", port: webPort, localAddress });
  socket.on("error", () => {});
  socket.on("connect", () => connectedAt.set(socket, Date.now()));
  socket.on("connect", () => socket.write(`POST /sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\nNext-Action: 0\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n`));
  socket.on("data", () => {});
  return socket;
}

function findWebProcess(launcherPid: number): number {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === launcherPid && readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("broker-web.js")) return Number(entry);
    } catch {
      // Gone meanwhile.
    }
  }
  throw new Error("the web app's process was not found");
}

function rssOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb ?? 0) * 1024;
}

function descriptorsOf(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function countBy(items: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[item] = (counts[item] ?? 0) + 1;
  return counts;
}

function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MB`;
}
