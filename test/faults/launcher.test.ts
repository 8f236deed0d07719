// `npm run test:faults`: the broker as `npm start` runs it (bin/broker.js: launcher, dtcps, web
// app), hurt as machines and operators hurt it. Needs the web app built (npm test runs this after
// the Playwright suite, which builds it; alone, the first start builds it).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { openStorage, type Storage } from "../../server/storage/storage.ts";
import { DtcpClient } from "../support/dtcp-client.ts";
import { freePort } from "../support/ports.ts";

const REPO = join(import.meta.dirname, "..", "..");

interface Launched {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function launch(env: NodeJS.ProcessEnv, dtcpPort: number): Launched {
  const child = spawn(process.execPath, ["bin/broker.js", "--", "--no-dataplane", "--listen", "127.0.0.1", "-p", String(dtcpPort)], {
    cwd: REPO,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function until<T>(what: string, probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, ms = 60_000): Promise<T> {
  for (const end = Date.now() + ms; ; await new Promise((r) => setTimeout(r, 100))) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
  }
}

const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern, "g"))?.length ?? 0;

/** The launcher's children: dtcps and the web app, by their command lines. */
function childrenOf(pid: number): { dtcps: number | null; web: number | null } {
  let list: string[] = [];
  try {
    list = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  } catch {
    return { dtcps: null, web: null };
  }
  const found = { dtcps: null as number | null, web: null as number | null };
  for (const child of list.map(Number)) {
    const cmdline = readFileSync(`/proc/${child}/cmdline`, "utf8");
    if (cmdline.includes("bin/dtcps.js")) found.dtcps = child;
    if (cmdline.includes("bin/broker-web.js")) found.web = child;
  }
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("the broker under npm start, hurt", { timeout: 20 * 60_000 }, () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let dtcpPort: number;
  let webUrl: string;
  let broker: Launched;
  let storage: Storage;
  let password: string;

  const webAnswers = async () => (await fetch(`${webUrl}/sign-in`).catch(() => null))?.status === 200;
  const login = async () => {
    const client = await DtcpClient.connect(dtcpPort);
    const reply = await client.tunnel("alice", password, "tunnelonly");
    return { client, reply };
  };

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "dtcp-faults-"));
    chmodSync(dataDir, 0o755);
    const [webPort, apiPort] = [await freePort(), await freePort()];
    dtcpPort = await freePort();
    webUrl = `http://127.0.0.1:${webPort}`;
    env = { ...process.env, BROKER_DATA_DIR: dataDir, BROKER_WEB_LISTEN: `127.0.0.1:${webPort}`, BROKER_API_LISTEN: `127.0.0.1:${apiPort}`, NEXT_TELEMETRY_DISABLED: "1" };
    delete env.DATABASE_URL;
    broker = launch(env, dtcpPort);
    await until("the web app", webAnswers, 15 * 60_000);
    await until("dtcps", () => /dtcps listening/.test(broker.output()));
    storage = await openStorage(`file:${join(dataDir, "broker.db")}`, { secretKeyFile: join(dataDir, "secret.key") });
    password = (await storage.users.create({ name: "alice" }, { name: "test" })).tunnelPassword;
  });

  after(async () => {
    broker?.child.kill("SIGTERM");
    await broker?.exited;
    await storage?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("dtcps killed with SIGKILL is started again; the web app goes on; the lost session ends at the last heartbeat", async (t) => {
    const { client, reply } = await login();
    assert.match(reply ?? "", /^\+OK /);
    const [row] = await storage.sessions.list({ userName: "alice", limit: 1 });
    const { dtcps, web } = childrenOf(broker.child.pid!);
    assert.ok(dtcps && web, `children: ${JSON.stringify({ dtcps, web })}`);
    process.kill(dtcps, "SIGKILL");
    const killedAt = Date.now();
    await until("the client to see its connection drop", () => client.closed);
    await until("dtcps to be started again", () => /dtcps was killed by SIGKILL after .*; starting it again in \d+ s/.test(broker.output()));
    await until("the new dtcps", () => count(broker.output(), /dtcps listening/g) === 2);
    assert.equal(childrenOf(broker.child.pid!).web, web, "the web app was left running");
    assert.ok(await webAnswers());
    const ended = await storage.db.session.findUniqueOrThrow({ where: { id: row!.id } });
    assert.equal(ended.endReason, "pop-lost");
    const early = killedAt - ended.endedAt!.getTime();
    assert.ok(early >= 0 && early <= 1_500, `ended ${early} ms before the kill; the heartbeat is every second`);
    const again = await login();
    assert.match(again.reply ?? "", /^\+OK /, "logins work again");
    t.diagnostic(`a login worked again ${Date.now() - killedAt} ms after dtcps was killed`);
    again.client.close();
  });

  test("the web app killed with SIGKILL is started again; dtcps and its sessions go on", async (t) => {
    const { client, reply } = await login();
    assert.match(reply ?? "", /^\+OK /);
    const { dtcps, web } = childrenOf(broker.child.pid!);
    process.kill(web!, "SIGKILL");
    const killedAt = Date.now();
    await until("the web app to be started again", () => /the web app was killed by SIGKILL/.test(broker.output()));
    await until("the new web app", async () => childrenOf(broker.child.pid!).web !== web && (await webAnswers()));
    t.diagnostic(`pages were served again ${Date.now() - killedAt} ms after the web app was killed`);
    assert.equal(childrenOf(broker.child.pid!).dtcps, dtcps);
    assert.equal(await client.command("ping"), "+OK hi, happy to hear from you", "the session lived through it");
    client.close();
  });

  test("administrators' changes acknowledged while dtcps is killed and restarted are all there afterwards", async () => {
    const added: string[] = [];
    const adding = (async () => {
      for (let i = 0; i < 8; i++) {
        const name = `acked${i}`;
        // Acknowledged = dtcpctl exited 0 having said so.
        const { status } = await new Promise<{ status: number | null }>((resolve) => {
          const child = spawn(process.execPath, ["bin/dtcpctl.js", "user", "add", name], { cwd: REPO, env: { ...env, DATABASE_URL: `file:${join(dataDir, "broker.db")}` }, stdio: "ignore" });
          child.once("exit", (code) => resolve({ status: code }));
        });
        if (status === 0) added.push(name);
      }
    })();
    await until("a few adds", () => added.length >= 2);
    const { dtcps } = childrenOf(broker.child.pid!);
    process.kill(dtcps!, "SIGKILL");
    await adding;
    await until("dtcps to be back", () => count(broker.output(), /dtcps listening/g) >= 3);
    assert.equal(added.length, 8, "dtcpctl does not depend on dtcps");
    const present = (await storage.db.user.findMany({ where: { name: { in: added } }, select: { name: true } })).map((u) => u.name).sort();
    assert.deepEqual(present, [...added].sort());
  });

  test("a second broker on the same data directory refuses at once, naming the first one's pid, and touches nothing", async () => {
    const { client, reply } = await login();
    assert.match(reply ?? "", /^\+OK /);
    const second = launch({ ...env, BROKER_WEB_LISTEN: `127.0.0.1:${await freePort()}` }, await freePort());
    assert.equal(await second.exited, 1);
    assert.match(second.output(), new RegExp(`the data directory ${dataDir} is already in use by pid ${broker.child.pid} `));
    assert.equal(await client.command("ping"), "+OK hi, happy to hear from you");
    const [row] = await storage.sessions.list({ userName: "alice", limit: 1 });
    assert.equal(row!.endedAt, null, "its session is still live in the history");
    client.close();
  });

  test("the launcher killed with SIGKILL takes its children with it; their sessions end as at a stop; a new broker then starts", async (t) => {
    const { client, reply } = await login();
    assert.match(reply ?? "", /^\+OK /);
    const { dtcps, web } = childrenOf(broker.child.pid!);
    broker.child.kill("SIGKILL");
    await broker.exited;
    assert.equal(await client.readLine(30_000), "-ERR server shutting down", "the client is told, as at a stop");
    const killedAt = Date.now();
    await until("dtcps and the web app to exit", () => !alive(dtcps!) && !alive(web!));
    t.diagnostic(`its children were gone ${Date.now() - killedAt} ms after the launcher was killed`);
    const [row] = await storage.sessions.list({ userName: "alice", limit: 1 });
    assert.equal(row!.endReason, "shutdown");
    broker = launch(env, dtcpPort);
    await until("the new broker's dtcps", () => /dtcps listening/.test(broker.output()));
    await until("the new broker's web app", webAnswers);
    const again = await login();
    assert.match(again.reply ?? "", /^\+OK /);
    again.client.close();
  });
});
