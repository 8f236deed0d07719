// The hostile-input suite that stays: the daemon as its own process under a small V8 heap
// (--max-old-space-size=128), fed random and malicious DTCP input over real TCP, pipelining floods
// that never read, and live-view viewers that send without reading. It must not crash, every reply
// must be a well-formed line, and a real user from another address must be served throughout.
// npm run fuzz:dtcp is the long run of the same.
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { LIVE_PROTOCOL } from "../server/api/server.ts";
import { loadOrCreateApiKey, mintToken } from "../server/api/token.ts";
import { resolvePaths } from "../server/config.ts";
import { WebSessionRepository } from "../server/repositories/web-sessions/repository.ts";
import { hashToken } from "../server/secrets/token.ts";
import { startDaemonProcess, type DaemonProcess } from "./support/daemon-process.ts";
import { fuzzInput, random, runInput, sourceAddress, steadyUser, type FuzzStats } from "./support/dtcp-fuzz.ts";

const SMALL_HEAP = ["--max-old-space-size=128"];
const INPUTS = 1_500;
const CONCURRENCY = 32;
// Far above what the daemon needs at rest (about 150 MB with tsx) and far below what an unbounded
// backlog reaches in seconds (gigabytes); with a 128 MB heap an unbounded one crashes instead.
const PEAK_RSS_BOUND = 512 << 20;

describe("hostile input against the daemon under a small heap", () => {
  let daemon: DaemonProcess;
  let steady: { name: string; password: string };
  let fuzzer: { name: string; password: string };

  before(async () => {
    daemon = await startDaemonProcess({ nodeFlags: SMALL_HEAP, api: true, args: ["--auth-timeout", "5"] });
    steady = { name: "steady", password: await daemon.user("steady") };
    fuzzer = { name: "fuzzed", password: await daemon.user("fuzzed") };
  });
  after(async () => {
    const { code, signal } = await daemon.stop();
    assert.equal(signal, null, "the daemon was killed rather than stopping");
    assert.equal(code, 0);
  });

  const withSteadyUser = async <T>(work: () => Promise<T>) => {
    let running = true;
    const user = steadyUser(daemon.port, steady.name, steady.password, () => running);
    try {
      return { result: await work(), user: await ((running = false), user) };
    } finally {
      running = false;
    }
  };

  test(`${INPUTS} random and malformed inputs: no crash, every reply a well-formed line, a real user served throughout`, async () => {
    const stats: FuzzStats = { inputs: 0, malformedReplies: [], unserved: 0 };
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    const rnd = random(seed);
    const { user } = await withSteadyUser(async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < INPUTS) {
            const n = next++;
            await runInput(daemon.port, sourceAddress(n), fuzzInput(rnd, fuzzer), stats, 150);
          }
        }),
      );
    });
    assert.equal(stats.inputs, INPUTS);
    assert.deepEqual(stats.malformedReplies.slice(0, 5), [], `seed ${seed}`);
    assert.equal(stats.unserved, 0, `seed ${seed}`);
    assert.ok(daemon.alive(), `the daemon died (seed ${seed}):\n${daemon.log().slice(-2000)}`);
    assert.ok(user.loggedIn, `the real user was not let in: ${user.reply}`);
    assert.equal(user.missed, 0, `${user.missed} of ${user.pings} pings unanswered`);
  });

  test("forty clients pipelining without reading: the daemon stops reading them, stays small and alive", async () => {
    const hogs: Socket[] = [];
    const { user } = await withSteadyUser(async () => {
      const chunk = Buffer.from("help\n".repeat(10_000));
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const socket = connect({ host: "127.0.0.1", port: daemon.port, localAddress: `127.8.0.${i + 1}` });
          socket.on("error", () => {});
          hogs.push(socket);
          await new Promise((r) => socket.once("connect", r));
          socket.pause();
          // Until our own socket refuses more: the daemon has stopped reading this one.
          for (let sent = 0; sent < 64 << 20 && socket.write(chunk); sent += chunk.length) await new Promise((r) => setImmediate(r));
          assert.ok(socket.writableLength > 0, "back-pressure from the daemon");
        }),
      );
      // The hogs stay connected, their backlogs unanswered, while the real user goes on pinging.
      await new Promise((r) => setTimeout(r, 1_500));
    });
    assert.ok(daemon.alive(), `the daemon died:\n${daemon.log().slice(-2000)}`);
    assert.ok(daemon.memory().peak < PEAK_RSS_BOUND, `peak RSS ${daemon.memory().peak >> 20} MB`);
    assert.ok(user.loggedIn && user.pings > 0 && user.missed === 0, `the real user: ${JSON.stringify(user)}`);
    for (const s of hogs) s.destroy();
  });

  const viewerToken = async (name: string, role: "admin" | "user") => {
    const key = loadOrCreateApiKey(resolvePaths({ BROKER_DATA_DIR: daemon.dataDir }).apiKeyFile);
    await daemon.user(name);
    const user = await daemon.db.user.update({ where: { name }, data: { role } });
    const { token: cookie } = await new WebSessionRepository(daemon.db).start(user, "test", "127.0.0.1");
    return mintToken(key, { sub: name, role, sid: hashToken(cookie), pop: "default" });
  };

  test("500 random messages on the live WebSocket: every reply is a message of the API, the viewer stays", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${daemon.apiPort}/live`, [LIVE_PROTOCOL, await viewerToken("wsfuzz", "admin")]);
    ws.on("error", () => {});
    const replies: unknown[] = [];
    ws.on("message", (data) => replies.push(JSON.parse(String(data))));
    await new Promise((r) => ws.once("open", r));
    const rnd = random(Number(process.env.FUZZ_SEED ?? 7));
    const junk = () => {
      const r = rnd();
      if (r < 0.25) return JSON.stringify({ type: "kick", sessionId: Math.floor(rnd() * 1e6) - 5 });
      if (r < 0.4) return Buffer.from(Array.from({ length: Math.floor(rnd() * 100) }, () => Math.floor(rnd() * 256)));
      if (r < 0.6) return JSON.stringify({ type: ["kick", "x", 1, null][Math.floor(rnd() * 4)], sessionId: ["1", 1.5, null, {}][Math.floor(rnd() * 4)] });
      return "x".repeat(Math.floor(rnd() * 4_000));
    };
    for (let i = 0; i < 500; i++) ws.send(junk());
    const answers = () => replies.filter((m) => ["error", "kicked"].includes((m as { type: string }).type)).length;
    const until = Date.now() + 10_000;
    while (answers() < 500 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(ws.readyState, ws.OPEN);
    assert.equal(answers(), 500, "one answer per message");
    for (const m of replies) assert.ok(["snapshot", "diff", "ping", "error", "kicked"].includes((m as { type: string }).type), JSON.stringify(m));
    ws.terminate();
  });

  test("live viewers sending without reading: the daemon stays small and alive", async () => {
    const viewers: WebSocket[] = [];
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const token = await viewerToken(`viewer${i}`, "user");
        const ws = new WebSocket(`ws://127.0.0.1:${daemon.apiPort}/live`, [LIVE_PROTOCOL, token], { autoPong: false });
        ws.on("error", () => {});
        viewers.push(ws);
        await new Promise((r) => ws.once("open", r));
        (ws as unknown as { _socket: Socket })._socket.pause();
        const junk = "x".repeat(4_000);
        for (let sent = 0; sent < 20_000 && ws.bufferedAmount < 4 << 20; sent++) {
          ws.send(junk);
          if (sent % 100 === 0) await new Promise((r) => setImmediate(r));
        }
        assert.ok(ws.bufferedAmount >= 4 << 20, "the daemon stopped reading a viewer that reads nothing");
      }),
    );
    assert.ok(daemon.alive(), `the daemon died:\n${daemon.log().slice(-2000)}`);
    assert.ok(daemon.memory().peak < PEAK_RSS_BOUND, `peak RSS ${daemon.memory().peak >> 20} MB`);
    for (const ws of viewers) ws.terminate();
  });
});
