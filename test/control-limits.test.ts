// The DTCP port's limits over real TCP on loopback: what a peer that does not read, does not close
// or floods the port with connections may cost the daemon, and that real users are served meanwhile.
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { TestBroker } from "./support/broker.ts";
import { DtcpClient } from "./support/dtcp-client.ts";

// Bounds on liveness, not speed: generous, since other tests may load the two cores meanwhile.
const waitFor = async (check: () => boolean | Promise<boolean>, what: string, ms = 15_000) => {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** A raw connection from `localAddress` that reads nothing unless told to and never closes by itself. */
async function rawConnection(port: number, localAddress = "127.0.0.1"): Promise<Socket> {
  const socket = connect({ host: "127.0.0.1", port, localAddress, allowHalfOpen: true });
  socket.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return socket;
}

describe("DTCP login throttling under concurrency", () => {
  let broker: TestBroker;

  before(async () => {
    broker = await TestBroker.start({ abuse: { freeFailures: 3, failureDelayBaseMs: 50, failureDelayMaxMs: 400, maxUnauthenticatedPerAddress: 20 } });
    await broker.user("olga");
  });
  after(() => broker.stop());

  test("parallel guesses from one address are spread out, and the surplus is refused without a check", async () => {
    const guess = async () => {
      const c = await DtcpClient.connect(broker.port, "kame", "127.0.5.1");
      const reply = await c.tunnel("olga", "wrong password", "tunnelonly");
      c.close();
      return reply;
    };
    for (let i = 0; i < 3; i++) assert.equal(await guess(), "-ERR authentication failed.");
    const replies = await Promise.all(Array.from({ length: 10 }, guess));
    const checked = replies.filter((r) => r === "-ERR authentication failed.").length;
    const refused = replies.filter((r) => r === "-ERR too many failed logins, try again later").length;
    // Waits of 50, 50+100 and 150+200 ms fit under the 400 ms cap; the fourth would not.
    assert.equal(checked, 3, JSON.stringify(replies));
    assert.equal(refused, 7);
    // The first failure of the address is an entry of its own; the rest of its minute, one summary.
    await broker.daemon.broker.flushFailedLogins(true);
    const audited = await broker.db.auditLog.findMany({ where: { action: "dtcp.login.failed", target: "olga" }, orderBy: { id: "asc" } });
    assert.equal(audited.length, 2, JSON.stringify(audited));
    assert.equal(JSON.parse(audited[0]!.after!).reason, "wrong response");
    const summary = JSON.parse(audited[1]!.after!) as { attempts: number; users: Record<string, number>; reasons: Record<string, number> };
    assert.equal(1 + summary.attempts, 6, "every check made is audited, and only those");
    assert.deepEqual(summary.users, { olga: 5 });
    assert.deepEqual(summary.reasons, { "wrong response": 5 });
  });

  test("a guesser cycling through long or odd user names costs no row, no log line and no throttle memory", async () => {
    const rowsBefore = await broker.db.auditLog.count();
    const c = await DtcpClient.connect(broker.port, "kame", "127.0.5.2");
    for (let i = 0; i < 200; i++) {
      // The longest name a DTCP line can carry, and names with characters no user name has.
      const name = i % 2 === 0 ? `${"x".repeat(900)}${i}` : `Root${i}`;
      assert.equal(await c.tunnel(name, "whatever", "tunnelonly"), "-ERR authentication failed.");
    }
    await broker.daemon.broker.flushFailedLogins(true);
    assert.equal(await broker.db.auditLog.count(), rowsBefore, "nothing audited for names that cannot exist");
    assert.equal(broker.daemon.broker.refusals.malformedUser, 200);
    // Two hundred counted failures would have the address refused unchecked; none were counted.
    assert.equal(await c.tunnel("olga", "wrong password", "tunnelonly"), "-ERR authentication failed.");
    c.close();
  });

  test("failures on many real-looking names from one address make one entry and one summary, the names counted past ten", async () => {
    const before = await broker.db.auditLog.count({ where: { action: "dtcp.login.failed" } });
    const c = await DtcpClient.connect(broker.port, "kame", "127.0.5.3");
    for (let i = 0; i < 4; i++) await c.tunnel(`nobody${i}`, "whatever", "tunnelonly");
    c.close();
    const c2 = await DtcpClient.connect(broker.port, "kame", "127.0.5.4");
    for (let i = 0; i < 3; i++) await c2.tunnel(`someone${i}`, "whatever", "tunnelonly");
    c2.close();
    await broker.daemon.broker.flushFailedLogins(true);
    const rows = await broker.db.auditLog.findMany({ where: { action: "dtcp.login.failed" }, orderBy: { id: "asc" }, skip: before });
    assert.deepEqual(rows.map((r) => r.source), ["127.0.5.3", "127.0.5.4", "127.0.5.3", "127.0.5.4"]);
    assert.deepEqual(JSON.parse(rows[2]!.after!).users, { nobody1: 1, nobody2: 1, nobody3: 1 });
    assert.equal(rows[2]!.target, null, "a summary over several names targets none");
  });
});

describe("DTCP port limits", () => {
  let broker: TestBroker;
  let alice: { name: string; password: string };

  before(async () => {
    broker = await TestBroker.start({
      timeouts: { authMs: 1_500, drainMs: 1_000, lingerMs: 300 },
      abuse: { maxUnauthenticated: 40, maxUnauthenticatedPerAddress: 10 },
    });
    alice = await broker.user("alice");
  });
  after(() => broker.stop());

  test("after quit, line too long or the login timeout, a peer that never closes its side is cut off", async () => {
    const before = broker.daemon.control.counters.lingerDestroyed;
    const quitter = await rawConnection(broker.port, "127.0.0.4");
    quitter.write("quit\r\n");
    const ranter = await rawConnection(broker.port, "127.0.0.4");
    ranter.write("x".repeat(2_000) + "\n");
    const sleeper = await rawConnection(broker.port, "127.0.0.4");
    for (const s of [quitter, ranter, sleeper]) s.resume();
    await waitFor(() => broker.daemon.control.counters.lingerDestroyed - before === 3, "three half-closed sockets to be destroyed", 5_000);
    await waitFor(() => broker.daemon.control.connections === 0, "no connection left open");
    for (const s of [quitter, ranter, sleeper]) s.destroy();
  });

  test("an address gets its share of unauthenticated connections; a flood from many costs a bounded number and a real user still logs in", async () => {
    const share: DtcpClient[] = [];
    for (let i = 0; i < 10; i++) share.push(await DtcpClient.connect(broker.port, "kame", "127.0.3.1"));
    const past = await rawConnection(broker.port, "127.0.3.1");
    past.setEncoding("latin1");
    const refusal = await new Promise<string>((resolve) => past.once("data", resolve));
    assert.equal(refusal, "-ERR too many connections from your address\r\n");
    for (const c of share) c.close();
    past.destroy();
    await waitFor(() => broker.daemon.control.connections === 0, "the address's connections to be gone");

    const flood: Socket[] = [];
    for (let a = 10; a < 18; a++) {
      for (let i = 0; i < 10; i++) flood.push(await rawConnection(broker.port, `127.0.1.${a}`));
    }
    await waitFor(() => broker.daemon.control.unauthenticated <= 40, "the total to hold");
    const client = await DtcpClient.connect(broker.port, "kame", "127.0.2.1");
    assert.match((await client.tunnel(alice.name, alice.password, "tunnelonly")) ?? "", /^\+OK /);
    assert.equal(await client.command("ping"), "+OK hi, happy to hear from you");
    assert.ok(broker.daemon.control.connections <= 41 + 1, `${broker.daemon.control.connections} connections held`);
    assert.ok(broker.daemon.control.counters.evicted >= 80 - 40, "the oldest of the busiest addresses made room");
    client.close();
    for (const s of flood) s.destroy();
    await waitFor(() => broker.daemon.control.connections === 0, "the flood's connections to be gone");
  });
});

// Alone, with a login timeout far beyond the drain timeout: on a loaded machine the hog's replies
// block later, and a login timeout racing the drain timeout would close it for the wrong reason.
describe("a peer that does not read its replies", () => {
  let broker: TestBroker;

  before(async () => {
    broker = await TestBroker.start({ timeouts: { authMs: 600_000, drainMs: 500, lingerMs: 300 } });
  });
  after(() => broker.stop());

  test("a client that pipelines and never reads is not read either, then closed with its reason; others are served", async () => {
    const hog = await rawConnection(broker.port, "127.0.0.2");
    hog.pause();
    let sent = 0;
    let refused = false;
    // Write until our own socket refuses more: the daemon stopped reading, so TCP's windows filled.
    const chunk = Buffer.from("help\n".repeat(2_000));
    const started = Date.now();
    while (Date.now() - started < 30_000) {
      sent += chunk.length;
      if (!hog.write(chunk)) {
        refused = true;
        break;
      }
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(refused, "the daemon kept reading a client that reads nothing");
    assert.ok(sent < 64 << 20, `back-pressure came after ${sent} bytes`);
    const other = await DtcpClient.connect(broker.port, "kame", "127.0.0.3");
    assert.equal(await other.command("ping"), "+OK hi, happy to hear from you", "another client is answered meanwhile");
    other.close();
    const cut = () => broker.daemon.control.counters.unreadClosed;
    await waitFor(() => cut() === 1, "the hog to be closed for its unread replies");
    hog.destroy();
  });

});
