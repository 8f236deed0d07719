// `npm run test:faults`: the broker as `npm start` runs it while its database fails under it: a
// PostgreSQL server stopped for 30 s and started again, and a SQLite data directory on a small tmpfs
// filled up and emptied. Live sessions go on, logins are told to come back later, the web app says
// what is wrong, nothing restarts, every end is written with its own time, and it all heals by itself.
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { TEMPORARY_FAILURE } from "../../server/protocol/replies.ts";
import { openStorage, type Storage } from "../../server/storage/storage.ts";
import { DtcpClient } from "../support/dtcp-client.ts";
import { skipUnlessRoot } from "../support/namespaces.ts";
import { freePort } from "../support/ports.ts";
import { skipUnlessPostgres, startPostgres } from "../support/postgres.ts";

const REPO = join(import.meta.dirname, "..", "..");
const OUTAGE_MS = 30_000;

/** Waits for probe() to give something; a probe that throws (the database still away) is tried again. */
async function until<T>(what: string, probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, ms = 60_000): Promise<T> {
  let last: unknown = null;
  for (const end = Date.now() + ms; ; await new Promise((r) => setTimeout(r, 100))) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (last: ${(last as Error).message})` : ""}`);
  }
}

/** The broker under its launcher, on `env`'s data directory and database. */
async function startBroker(env: NodeJS.ProcessEnv) {
  const [webPort, apiPort, dtcpPort] = [await freePort(), await freePort(), await freePort()];
  const child: ChildProcess = spawn(process.execPath, ["bin/broker.js", "--", "--no-dataplane", "--listen", "127.0.0.1", "-p", String(dtcpPort)], {
    cwd: REPO,
    env: { ...env, BROKER_WEB_LISTEN: `127.0.0.1:${webPort}`, BROKER_API_LISTEN: `127.0.0.1:${apiPort}`, NEXT_TELEMETRY_DISABLED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const web = `http://127.0.0.1:${webPort}`;
  const page = async () => {
    const response = await fetch(`${web}/sign-in`).catch(() => null);
    return response ? { status: response.status, text: await response.text() } : null;
  };
  await until("the web app", async () => (await page())?.status === 200, 15 * 60_000);
  await until("dtcps", () => /dtcps listening/.test(output));
  return {
    dtcpPort,
    output: () => output,
    page,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

type Broker = Awaited<ReturnType<typeof startBroker>>;

async function login(broker: Broker, name: string, password: string) {
  const client = await DtcpClient.connect(broker.dtcpPort);
  return { client, reply: await client.tunnel(name, password, "tunnelonly") };
}

type Users = Record<"held" | "leaving" | "newcomer" | "flood", string>;

/** The users both faults log in as: their DTCP passwords by name. */
async function makeUsers(storage: Storage): Promise<Users> {
  const users = {} as Users;
  for (const name of ["held", "leaving", "newcomer", "flood"] as const) users[name] = (await storage.users.create({ name }, { name: "test" })).tunnelPassword;
  return users;
}

/** What both faults check while the database is gone and once it is back. */
async function duringAndAfter(broker: Broker, storage: Storage, users: Users, breakIt: () => void, healIt: () => void) {
  const held = await login(broker, "held", users.held);
  const leaving = await login(broker, "leaving", users.leaving);
  assert.match(held.reply ?? "", /^\+OK /);
  assert.match(leaving.reply ?? "", /^\+OK /);
  const [leavingRow] = await storage.sessions.list({ userName: "leaving", limit: 1 });
  const mark = broker.output().length;

  breakIt();
  const broken = Date.now();
  const refused = await login(broker, "newcomer", users.newcomer);
  assert.equal(refused.reply, TEMPORARY_FAILURE, "a login is told to come back later");
  refused.client.close();
  // Many more, as clients in a loop would send: each cause is logged once, then counted.
  // (Another user: the flood meets the login rate limit, which must not stand in the newcomer's way later.)
  for (let i = 0; i < 50; i++) {
    const again = await login(broker, "flood", users.flood);
    again.client.close();
    // One at a time, as far as the daemon is concerned: its per-address limits are not the subject here.
    await again.client.waitClosed();
  }
  assert.equal(await held.client.command("ping"), "+OK hi, happy to hear from you", "a live session goes on");
  const page = await until("the web app to say the database is unavailable", async () => {
    const p = await broker.page();
    return p?.status === 503 ? p : null;
  });
  assert.match(page.text, /database is unavailable/);
  assert.match(page.text, /recovers by itself/);
  leaving.client.close();
  const leftAt = Date.now();
  await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - broken))));
  assert.equal(await held.client.command("ping"), "+OK hi, happy to hear from you", "still going at the end of the outage");

  healIt();
  const healed = Date.now();
  const back = await until("logins to work again", async () => {
    const attempt = await login(broker, "newcomer", users.newcomer);
    if (/^\+OK /.test(attempt.reply ?? "")) return attempt;
    attempt.client.close();
    return null;
  });
  const loginsBackMs = Date.now() - healed;
  await until("the web app to serve pages again", async () => (await broker.page())?.status === 200);
  const ended = await until("the end made during the outage to be written", async () => {
    const row = await storage.db.session.findUniqueOrThrow({ where: { id: leavingRow!.id } });
    return row.endedAt ? row : null;
  });
  assert.equal(ended.endReason, "closed");
  assert.ok(Math.abs(ended.endedAt!.getTime() - leftAt) < 1_500, `written as ended at ${ended.endedAt!.toISOString()}, left at ${new Date(leftAt).toISOString()}`);
  assert.equal(await held.client.command("ping"), "+OK hi, happy to hear from you");
  const live = await storage.sessions.list({ live: true });
  assert.deepEqual(live.map((s) => s.userName).sort(), ["held", "newcomer"], "no row is live that is not");

  const log = broker.output().slice(mark);
  assert.doesNotMatch(log, /was killed|exited with/, "nothing had to be restarted");
  assert.ok(log.split("\n").filter((l) => /control connection:/.test(l)).length <= 3, `the log tells each cause once:\n${log}`);
  // 51 failed logins once wrote 7 lines each.
  assert.ok(log.split("\n").length < 120, `${log.split("\n").length} lines logged:\n${log}`);
  held.client.close();
  back.client.close();
  return loginsBackMs;
}

/** A failure carries the end of the broker's log: what it said is what went wrong. */
async function withLog<T>(broker: Broker, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- the broker's log, last 60 lines:\n${broker.output().split("\n").slice(-60).join("\n")}`, { cause: err });
  }
}

describe("the database fails under a running broker", { timeout: 30 * 60_000 }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test(`PostgreSQL stopped for ${OUTAGE_MS / 1000} s and started again`, { skip: skipUnlessPostgres() }, async (t) => {
    const postgres = await startPostgres();
    cleanups.push(() => postgres.stop());
    const url = await postgres.database("faults");
    const dataDir = mkdtempSync(join(tmpdir(), "dtcp-faults-pg-"));
    chmodSync(dataDir, 0o755);
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const env = { ...process.env, BROKER_DATA_DIR: dataDir, DATABASE_URL: url };
    const broker = await startBroker(env);
    cleanups.push(() => broker.stop());
    const storage = await openStorage(url, { secretKeyFile: join(dataDir, "secret.key") });
    cleanups.push(() => storage.close());
    const users = await makeUsers(storage);
    const backMs = await withLog(broker, () => duringAndAfter(broker, storage, users, () => postgres.pause(), () => postgres.resume()));
    t.diagnostic(`logins worked again ${backMs} ms after PostgreSQL was back`);
  });

  test("a SQLite data directory on a full disk, emptied again", { skip: skipUnlessRoot("needs root (mount tmpfs)") }, async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), "dtcp-faults-full-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=48m,mode=0755", "tmpfs", dataDir]);
    cleanups.push(() => {
      execFileSync("umount", ["-l", dataDir]);
      rmSync(dataDir, { recursive: true, force: true });
    });
    const env: NodeJS.ProcessEnv = { ...process.env, BROKER_DATA_DIR: dataDir };
    delete env.DATABASE_URL;
    const broker = await startBroker(env);
    cleanups.push(() => broker.stop());
    const file = join(dataDir, "broker.db");
    const storage = await openStorage(`file:${file}`, { secretKeyFile: join(dataDir, "secret.key") });
    cleanups.push(() => storage.close());
    const users = await makeUsers(storage);
    const filler = join(dataDir, "filler");
    mkdirSync(filler);
    const fill = () => {
      // Whatever room is left, taken: dd stops at ENOSPC.
      for (let i = 0; ; i++) {
        try {
          execFileSync("dd", ["if=/dev/zero", `of=${join(filler, String(i))}`, "bs=1M", "count=64"], { stdio: "ignore" });
        } catch {
          break;
        }
      }
    };
    const backMs = await withLog(broker, () => duringAndAfter(broker, storage, users, fill, () => rmSync(filler, { recursive: true, force: true })));
    t.diagnostic(`logins worked again ${backMs} ms after the disk had room`);
    const db = new Database(file, { readonly: true });
    assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    db.close();
  });
});
