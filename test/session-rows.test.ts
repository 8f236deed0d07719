// Session rows that tell the truth after faults: a second daemon of the same POP is refused before
// it touches anything; an end the database could not take is written later with the time it
// happened; a crashed daemon's sessions end at its last heartbeat; rows no session matches are
// ended by the POP that owns them. Runs on SQLite and, with npm run test:postgres, on PostgreSQL.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startDaemon } from "../server/daemon.ts";
import { InstanceLockedError } from "../server/launch/instance-lock.ts";
import { silentLogger } from "../server/log.ts";
import { TestBroker } from "./support/broker.ts";
import { startDaemonProcess } from "./support/daemon-process.ts";
import { DtcpClient } from "./support/dtcp-client.ts";
import { TEST_ENGINE } from "./support/engine.ts";

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms = 15_000): Promise<T> {
  for (const end = Date.now() + ms; ; await new Promise((r) => setTimeout(r, 50))) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
  }
}

/** Makes the database refuse every change to session rows, as a full disk or a lost server would. */
async function refuseSessionWrites(broker: TestBroker, refuse: boolean): Promise<void> {
  if (TEST_ENGINE === "sqlite") {
    await broker.db.$executeRawUnsafe(refuse ? `CREATE TRIGGER refuse_end BEFORE UPDATE ON "Session" BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END` : "DROP TRIGGER refuse_end");
  } else if (refuse) {
    await broker.db.$executeRawUnsafe(`CREATE FUNCTION refuse_end() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not write to file'; END $$`);
    await broker.db.$executeRawUnsafe(`CREATE TRIGGER refuse_end BEFORE UPDATE ON "Session" FOR EACH ROW EXECUTE FUNCTION refuse_end()`);
  } else {
    await broker.db.$executeRawUnsafe(`DROP TRIGGER refuse_end ON "Session"`);
    await broker.db.$executeRawUnsafe(`DROP FUNCTION refuse_end()`);
  }
}

describe("session rows after faults", () => {
  let broker: TestBroker;
  before(async () => {
    broker = await TestBroker.start({ reconcileMs: 200 });
  });
  after(async () => {
    await broker?.stop();
  });

  test("a second daemon of the same POP is refused, naming the holder, and leaves the first one's sessions alone", async () => {
    const alice = await broker.user("alice");
    const client = await DtcpClient.connect(broker.port);
    assert.match((await client.tunnel(alice.name, alice.password, "tunnelonly")) ?? "", /^\+OK /);
    const [row] = await broker.storage.sessions.list({ userName: "alice", limit: 1 });
    await assert.rejects(startDaemon({ ...broker.config, port: 0 }, silentLogger), (err: unknown) => {
      assert.ok(err instanceof InstanceLockedError, String(err));
      assert.match(err.message, TEST_ENGINE === "sqlite" ? new RegExp(`^the POP default of \\S+ is already in use by pid ${process.pid} `) : /^the POP default of this PostgreSQL database is already in use by dtcps pid \d+ on /);
      return true;
    });
    const [still] = await broker.storage.sessions.list({ userName: "alice", limit: 1 });
    assert.equal(still!.id, row!.id);
    assert.equal(still!.endedAt, null, "its session was not taken for a crashed one");
    assert.equal(await client.command("ping"), "+OK hi, happy to hear from you");
    client.close();
    await until("alice's end", async () => (await broker.storage.sessions.list({ userName: "alice", limit: 1 }))[0]!.endedAt);
  });

  test("an end the database refuses is kept and written once it takes it, with the time it happened", async () => {
    const bob = await broker.user("bob");
    const client = await DtcpClient.connect(broker.port);
    assert.match((await client.tunnel(bob.name, bob.password, "tunnelonly")) ?? "", /^\+OK /);
    await refuseSessionWrites(broker, true);
    let closedAt: number;
    try {
      closedAt = Date.now();
      client.close();
      // The daemon has let go of it, but cannot write it yet.
      await new Promise((r) => setTimeout(r, 1_500));
      const [meanwhile] = await broker.storage.sessions.list({ userName: "bob", limit: 1 });
      assert.equal(meanwhile!.endedAt, null, "the refusal is real");
    } finally {
      await refuseSessionWrites(broker, false);
    }
    const ended = await until("bob's end", async () => (await broker.storage.sessions.list({ userName: "bob", limit: 1 }))[0]!.endedAt);
    assert.ok(Math.abs(ended.getTime() - closedAt) < 1_000, `ended at ${ended.toISOString()}, closed at ${new Date(closedAt).toISOString()}`);
    const [row] = await broker.storage.sessions.list({ userName: "bob", limit: 1 });
    assert.equal(row!.endReason, "closed");
  });

  test("a row of this POP that no session of the daemon matches is ended", async () => {
    const pop = await broker.db.pop.findUniqueOrThrow({ where: { name: "default" } });
    const stray = await broker.db.session.create({
      data: { popId: pop.id, userName: "ghost", type: "tunnelonly", transport: "proto41", clientIpv4: "192.0.2.9", serverIpv4: "192.0.2.1" },
    });
    const carol = await broker.user("carol");
    const client = await DtcpClient.connect(broker.port);
    assert.match((await client.tunnel(carol.name, carol.password, "tunnelonly")) ?? "", /^\+OK /);
    const row = await until("the stray row's end", async () => {
      const r = await broker.db.session.findUniqueOrThrow({ where: { id: stray.id } });
      return r.endedAt ? r : null;
    });
    assert.equal(row.endReason, "pop-lost");
    await new Promise((r) => setTimeout(r, 500));
    const [carols] = await broker.storage.sessions.list({ userName: "carol", limit: 1 });
    assert.equal(carols!.endedAt, null, "a session the daemon holds stays live");
    client.close();
  });
});

test("a daemon killed with SIGKILL: its sessions end at its last heartbeat when it starts again, not at the restart", async () => {
  const daemon = await startDaemonProcess();
  try {
    const password = await daemon.user("dave");
    const client = await DtcpClient.connect(daemon.port);
    assert.match((await client.tunnel("dave", password, "tunnelonly")) ?? "", /^\+OK /);
    daemon.child.kill("SIGKILL");
    await new Promise((resolve) => daemon.child.once("exit", resolve));
    const killedAt = Date.now();
    const [row] = await daemon.db.session.findMany({ where: { userName: "dave" } });
    assert.equal(row!.endedAt, null, "nobody could write its end");
    client.close();
    // Some time passes before anyone starts it again.
    await new Promise((r) => setTimeout(r, 3_000));
    const again = await daemon.restart();
    try {
      const ended = await daemon.db.session.findUniqueOrThrow({ where: { id: row!.id } });
      assert.equal(ended.endReason, "pop-lost");
      const lateness = killedAt - ended.endedAt!.getTime();
      assert.ok(lateness >= 0 && lateness <= 1_500, `ended ${lateness} ms before the kill; the heartbeat is every second`);
    } finally {
      await again.stop();
    }
  } finally {
    await daemon.stop();
  }
});
