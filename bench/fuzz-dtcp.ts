// The long hostile-input run: npm run fuzz:dtcp
//
// Starts bin/dtcps.js as its own process on 127.0.0.1 (under FUZZ_NODE_FLAGS, default a 256 MB V8
// heap) and, over loopback only:
//   1. sends FUZZ_INPUTS (default 100,000) random and malicious DTCP inputs (test/support/dtcp-fuzz.ts)
//      from many loopback addresses, while a real user from another address pings every 200 ms;
//   2. sends FUZZ_WS_INPUTS (default 20,000) random messages to the live-session WebSocket, and floods
//      it from viewers that never read;
//   3. holds FUZZ_IDLE (default 20,000) idle unauthenticated connections from 2,000 addresses while a
//      real user logs in and, as root (the data plane needs it), passes IPv6 over UDP both ways.
// Prints inputs sent, crashes, malformed replies, the daemon's peak RSS against its bound, and
// whether the real user was served throughout. Exits 1 when a check fails. FUZZ_SEED repeats a run.
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { connect, type Socket } from "node:net";
import WebSocket from "ws";
import { LIVE_PROTOCOL } from "../server/api/server.ts";
import { loadOrCreateApiKey, mintToken } from "../server/api/token.ts";
import { resolvePaths } from "../server/config.ts";
import { PoolRepository } from "../server/repositories/pools/repository.ts";
import { WebSessionRepository } from "../server/repositories/web-sessions/repository.ts";
import { hashToken } from "../server/secrets/token.ts";
import { icmpv6Echo, summarize, ECHO_REPLY } from "../test/support/packets.ts";
import { startDaemonProcess } from "../test/support/daemon-process.ts";
import { fuzzInput, random, runInput, sourceAddress, steadyUser, type FuzzStats } from "../test/support/dtcp-fuzz.ts";

const env = process.env;
const INPUTS = Number(env.FUZZ_INPUTS ?? 100_000);
const WS_INPUTS = Number(env.FUZZ_WS_INPUTS ?? 20_000);
const IDLE = Number(env.FUZZ_IDLE ?? 20_000);
const CONCURRENCY = Number(env.FUZZ_CONCURRENCY ?? 64);
const SEED = Number(env.FUZZ_SEED ?? Date.now() % 1_000_000);
const NODE_FLAGS = (env.FUZZ_NODE_FLAGS ?? "--max-old-space-size=256").split(" ").filter(Boolean);
/** What the daemon may reach at its peak under all of this. */
const RSS_BOUND_MB = 512;
const root = process.getuid?.() === 0;
const LINK_POOL = "fd00:f022:1::/64";

const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
  return ok ? "ok" : "FAILED";
};
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

const daemon = await startDaemonProcess({
  nodeFlags: NODE_FLAGS,
  api: true,
  metrics: true,
  dataPlane: root,
  args: root ? ["-U", "--tun-name", "dtcpfz0", "--max-unauth", "4096"] : ["-U", "--max-unauth", "4096"],
});
const deadAt = () => (daemon.alive() ? null : daemon.log().slice(-3000));
console.log(`fuzz:dtcp: daemon pid ${daemon.child.pid} on 127.0.0.1:${daemon.port}, node ${NODE_FLAGS.join(" ")}, data plane ${root ? "on (root)" : "off (not root)"}, seed ${SEED}`);
const steady = { name: "steady", password: await daemon.user("steady") };
const fuzzed = { name: "fuzzed", password: await daemon.user("fuzzed") };
const traveller = { name: "traveller", password: await daemon.user("traveller") };
await new PoolRepository(daemon.db).add({ cidr: LINK_POOL, purpose: "link" }, { name: "fuzz" });

try {
  // 1. DTCP inputs.
  {
    const stats: FuzzStats = { inputs: 0, malformedReplies: [], unserved: 0 };
    const rnd = random(SEED);
    let running = true;
    const user = steadyUser(daemon.port, steady.name, steady.password, () => running);
    const started = Date.now();
    let next = 0;
    let reported = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < INPUTS && daemon.alive()) {
          const n = next++;
          await runInput(daemon.port, sourceAddress(n), fuzzInput(rnd, fuzzed), stats, 100);
          if (stats.inputs - reported >= 10_000) {
            reported = stats.inputs;
            console.log(`  ${stats.inputs} inputs, RSS ${mb(daemon.memory().rss)}`);
          }
        }
      }),
    );
    running = false;
    const served = await user;
    const seconds = (Date.now() - started) / 1000;
    console.log(`DTCP inputs sent            ${stats.inputs} in ${seconds.toFixed(0)} s (${(stats.inputs / seconds).toFixed(0)}/s)`);
    console.log(`  crashes                   ${daemon.alive() ? 0 : 1}   ${check(daemon.alive(), "the daemon died in the DTCP phase")}`);
    console.log(`  malformed replies         ${stats.malformedReplies.length}   ${check(stats.malformedReplies.length === 0, `malformed replies: ${stats.malformedReplies.slice(0, 3).join(" | ")}`)}`);
    console.log(`  connections not served    ${stats.unserved}   ${check(stats.unserved === 0, "inputs whose connection failed")}`);
    console.log(
      `  real user throughout      ${served.loggedIn ? "logged in" : "NOT logged in"}, ${served.pings - served.missed}/${served.pings} pings answered, slowest ${served.worstMs} ms   ` +
        check(served.loggedIn && served.missed === 0, "the real user was not served throughout the DTCP phase"),
    );
  }

  // 2. The live WebSocket.
  {
    const key = loadOrCreateApiKey(resolvePaths({ BROKER_DATA_DIR: daemon.dataDir }).apiKeyFile);
    const sessions = new WebSessionRepository(daemon.db);
    const viewer = async (name: string, role: "admin" | "user", read: boolean) => {
      await daemon.user(name);
      const user = await daemon.db.user.update({ where: { name }, data: { role } });
      const { token: cookie } = await sessions.start(user, "fuzz", "127.0.0.1");
      const ws = new WebSocket(`ws://127.0.0.1:${daemon.apiPort}/live`, [LIVE_PROTOCOL, mintToken(key, { sub: name, role, sid: hashToken(cookie), pop: "default" })]);
      ws.on("error", () => {});
      await new Promise((r) => ws.once("open", r));
      if (!read) (ws as unknown as { _socket: Socket })._socket.pause();
      return ws;
    };
    const rnd = random(SEED + 1);
    const TYPES = new Set(["snapshot", "diff", "ping", "kicked", "error"]);
    let replies = 0;
    let bad = 0;
    const readers = await Promise.all(Array.from({ length: 4 }, (_, i) => viewer(`wsreader${i}`, i % 2 === 0 ? "admin" : "user", true)));
    for (const ws of readers) {
      ws.on("message", (data) => {
        replies++;
        try {
          if (!TYPES.has((JSON.parse(String(data)) as { type: string }).type)) bad++;
        } catch {
          bad++;
        }
      });
    }
    const message = () => {
      const r = rnd();
      if (r < 0.3) return JSON.stringify({ type: "kick", sessionId: Math.floor(rnd() * 1e9) - 10 });
      if (r < 0.4) return JSON.stringify({ type: "pong" });
      if (r < 0.6) return Buffer.from(Array.from({ length: Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256)));
      if (r < 0.7) return "x".repeat(Math.floor(rnd() * 4_000));
      return JSON.stringify({ type: ["kick", "snapshot", "x", 1, null][Math.floor(rnd() * 5)], sessionId: ["1", -1, 1.5, null, {}][Math.floor(rnd() * 5)] });
    };
    for (let i = 0; i < WS_INPUTS; i++) {
      const ws = readers[i % readers.length]!;
      if (ws.readyState === ws.OPEN) ws.send(message());
      if (i % 200 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const oversized = await viewer("wsbig", "user", true);
    const closedWith = new Promise<number>((r) => oversized.once("close", (code) => r(code)));
    oversized.send("z".repeat(5_000));
    const bigCode = await closedWith;
    const hogs = await Promise.all(Array.from({ length: 8 }, (_, i) => viewer(`wshog${i}`, "user", false)));
    for (const ws of hogs) for (let i = 0; i < 5_000 && ws.bufferedAmount < 4 << 20; i++) ws.send("y".repeat(4_000));
    await new Promise((r) => setTimeout(r, 1_000));
    const open = readers.filter((ws) => ws.readyState === ws.OPEN).length;
    console.log(`WebSocket messages sent     ${WS_INPUTS} (${replies} replies read, ${bad} not well-formed)   ${check(bad === 0, "malformed WebSocket replies")}`);
    console.log(`  readers still open        ${open}/4   ${check(open === 4, "a reader of well-sized messages was dropped")}`);
    console.log(`  a message over 4 KiB      closed its viewer with ${bigCode}   ${check(bigCode === 1009, "an oversized message did not close its viewer with 1009")}`);
    console.log(`  8 viewers flooding without reading: crashes ${daemon.alive() ? 0 : 1}   ${check(daemon.alive(), "the daemon died in the WebSocket phase")}`);
    for (const ws of [...readers, ...hogs]) ws.terminate();
  }

  // 3. Idle unauthenticated connections, held by two helper processes (one process's descriptor
  // limit is 20,000 here, and the attack came from many hosts anyway).
  {
    const started = Date.now();
    const helpers = [0, 1].map((h) => holdIdle(h * Math.ceil(IDLE / 2), Math.min(IDLE, (h + 1) * Math.ceil(IDLE / 2))));
    const held = await Promise.all(helpers.map((h) => h.ready));
    const opened = held.reduce((a, b) => a + b, 0);
    console.log(`idle connections opened     ${opened} of ${IDLE} from ${Math.ceil(IDLE / 10)} addresses in ${((Date.now() - started) / 1000).toFixed(0)} s, held open`);
    console.log(`  the daemon                ${await controlFigures()}`);
    const login = Date.now();
    const served = await traffic();
    console.log(
      `  real user meanwhile       ${served.reply} in ${Date.now() - login} ms; ${served.echoes}/${served.sent} ICMPv6 echoes through the tunnel answered   ` +
        check(served.reply.startsWith("+OK") && (!root || served.echoes === served.sent), "the real user was not served during the idle flood"),
    );
    console.log(`  crashes                   ${daemon.alive() ? 0 : 1}   ${check(daemon.alive(), "the daemon died in the idle phase")}`);
    for (const h of helpers) h.release();
  }
} finally {
  const peak = daemon.alive() ? daemon.memory().peak : 0;
  const dead = deadAt();
  if (dead) failures.push(`the daemon exited:\n${dead}`);
  else console.log(`daemon peak RSS             ${mb(peak)} (bound ${RSS_BOUND_MB} MB)   ${check(peak < RSS_BOUND_MB * 2 ** 20, "peak RSS over its bound")}`);
  await daemon.stop();
}
if (failures.length > 0) {
  console.log(`\nFAILED:\n- ${failures.join("\n- ")}`);
  process.exit(1);
}
console.log("\nall checks passed");

/**
 * A helper process that opens connections first..last-1 to the daemon, ten per loopback address
 * (as the attack that found the descriptor leak did), reads nothing, and holds them until released.
 */
function holdIdle(first: number, last: number): { ready: Promise<number>; release: () => void } {
  const code = `
    const net = require("node:net");
    const [port, first, last] = process.argv.slice(1).map(Number);
    const sockets = [];
    let next = first, opened = 0;
    const address = (i) => { const a = Math.floor(i / 10); return "127.100." + Math.floor(a / 250) + "." + (1 + (a % 250)); };
    const one = () => new Promise((resolve) => {
      if (next >= last) return resolve(false);
      const s = net.connect({ host: "127.0.0.1", port, localAddress: address(next++) });
      s.on("error", () => {});
      s.once("connect", () => { opened++; sockets.push(s); resolve(true); });
      s.once("error", () => resolve(true));
    });
    Promise.all(Array.from({ length: 128 }, async () => { while (await one()); })).then(() => process.stdout.write("held " + opened + "\\n"));
    process.stdin.on("end", () => process.exit(0)).resume();
  `;
  const child = spawn(process.execPath, ["-e", code, String(daemon.port), String(first), String(last)], { stdio: ["pipe", "pipe", "inherit"] });
  const ready = new Promise<number>((resolve) => {
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (t: string) => {
      out += t;
      const m = /held (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", () => resolve(0));
  });
  return { ready, release: () => child.stdin!.end() };
}

/** The daemon's own count of what it holds and what it cut, from /metrics. */
async function controlFigures(): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${daemon.metricsPort}/metrics`)).text();
  const value = (pattern: RegExp) => pattern.exec(text)?.[1] ?? "?";
  return (
    `held ${value(/^dtcp_control_connections(?:\{pop="[^"]*"\})? (\d+)/m)} (${value(/^dtcp_control_unauthenticated_connections(?:\{pop="[^"]*"\})? (\d+)/m)} unauthenticated), ` +
    `evicted ${value(/^dtcp_control_connections_cut_total\{(?:pop="[^"]*",)?reason="evicted"\} (\d+)/m)}, ` +
    `refused per address ${value(/^dtcp_control_connections_cut_total\{(?:pop="[^"]*",)?reason="per-address"\} (\d+)/m)}`
  );
}

/**
 * The traveller logs in over UDP (host tunnel) from an address of their own and, with the data
 * plane, sends ICMPv6 echo requests to the server's tunnel address through the tunnel; the broker
 * host's kernel answers them back through it.
 */
async function traffic(): Promise<{ reply: string; sent: number; echoes: number }> {
  const udp = createSocket("udp4");
  await new Promise<void>((r) => udp.bind(0, "127.7.7.7", () => r()));
  const udpPort = udp.address().port;
  const socket = connect({ host: "127.0.0.1", port: daemon.port, localAddress: "127.7.7.7" });
  socket.setEncoding("latin1");
  socket.on("error", () => {});
  let text = "";
  const line = () =>
    new Promise<string>((resolve) => {
      const look = () => {
        const i = text.indexOf("\r\n");
        if (i === -1) return false;
        const l = text.slice(0, i);
        text = text.slice(i + 2);
        resolve(l);
        return true;
      };
      if (look()) return;
      const onData = (t: string) => {
        text += t;
        if (look()) socket.off("data", onData);
      };
      socket.on("data", onData);
      setTimeout(() => resolve("(no reply within 10 s)"), 10_000).unref();
    });
  const greeting = await line();
  const { tunnelResponse } = await import("../server/protocol/challenge.ts");
  socket.write(`tunnel ${traveller.name} ${tunnelResponse(traveller.name, greeting.split(" ")[1] ?? "", traveller.password)} host proto=udp port=${udpPort}\r\n`);
  const reply = await line();
  const words = reply.split(" ");
  let echoes = 0;
  let sent = 0;
  if (root && reply.startsWith("+OK")) {
    const [client6, server6] = [words[3]!, words[4]!];
    const serverPort = Number(words.find((w) => w.startsWith("udp="))?.slice(4));
    udp.on("message", (packet) => {
      const p = summarize(packet);
      if (p.icmpType === ECHO_REPLY) echoes++;
    });
    for (let seq = 1; seq <= 20; seq++) {
      udp.send(icmpv6Echo(client6, server6, 0x4242, seq, Buffer.alloc(56, seq)), serverPort, "127.0.0.1");
      sent++;
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  socket.destroy();
  udp.close();
  return { reply, sent, echoes };
}
