// What logins leave behind is bounded: one user's logins in a loop are slowed, and the audit log
// and the session history keep what their retention periods say (on SQLite and PostgreSQL).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { purgeExpired } from "../server/storage/retention.ts";
import { TestBroker } from "./support/broker.ts";
import { DtcpClient } from "./support/dtcp-client.ts";

const DAY = 86_400_000;

describe("logins in a loop", () => {
  let broker: TestBroker;
  before(async () => {
    broker = await TestBroker.start({ loginRate: { burst: 3, refillMs: 60_000 } });
  });
  after(() => broker.stop());

  test("one user's logins past the burst are refused with the wait, write no session row, and the refusal is audited once", async () => {
    const loop = await broker.user("loop");
    const other = await broker.user("other");
    const replies: string[] = [];
    for (let i = 0; i < 8; i++) {
      const c = await DtcpClient.connect(broker.port);
      replies.push((await c.tunnel(loop.name, loop.password, "tunnelonly")) ?? "");
      c.close();
    }
    assert.equal(replies.filter((r) => r.startsWith("+OK ")).length, 3, replies.join(" | "));
    assert.match(replies[3]!, /^-ERR too many logins in a short time; try again in \d+ s$/);
    assert.equal(await broker.db.session.count({ where: { userName: "loop" } }), 3, "no row for a refused login");
    assert.equal(await broker.db.auditLog.count({ where: { action: "dtcp.limit.logins", target: "loop" } }), 1);
    assert.equal(broker.daemon.broker.refusals.tooFrequent, 5);
    const c = await DtcpClient.connect(broker.port);
    assert.match((await c.tunnel(other.name, other.password, "tunnelonly")) ?? "", /^\+OK /, "another user is not held back");
    c.close();
  });
});

describe("retention", () => {
  let broker: TestBroker;
  before(async () => {
    broker = await TestBroker.start();
  });
  after(() => broker.stop());

  test("audit entries and ended sessions older than their periods go; live sessions and recent rows stay; the purge is audited", async () => {
    const now = new Date();
    const ago = (days: number) => new Date(now.getTime() - days * DAY);
    await broker.db.auditLog.createMany({
      data: [
        ...Array.from({ length: 5 }, (_, i) => ({ at: ago(40 + i), actor: "test", action: "old.entry" })),
        { at: ago(10), actor: "test", action: "recent.entry" },
      ],
    });
    const session = (startedAt: Date, endedAt: Date | null) => ({
      userName: "history",
      type: "tunnelonly",
      transport: "proto41",
      clientIpv4: "192.0.2.1",
      serverIpv4: "192.0.2.2",
      startedAt,
      endedAt,
      endReason: endedAt ? "closed" : null,
    });
    await broker.db.session.createMany({ data: [session(ago(100), ago(99)), session(ago(100), ago(98)), session(ago(100), null), session(ago(5), ago(4))] });

    const removed = await purgeExpired(broker.storage, { auditDays: 30, historyDays: 60 }, now);
    assert.deepEqual(removed, { audit: 5, sessions: 2 });
    assert.equal(await broker.db.auditLog.count({ where: { action: "old.entry" } }), 0);
    assert.equal(await broker.db.auditLog.count({ where: { action: "recent.entry" } }), 1);
    assert.equal(await broker.db.session.count({ where: { userName: "history" } }), 2, "the live one and the recent one");
    assert.equal(await broker.db.session.count({ where: { userName: "history", endedAt: null } }), 1);
    const purge = await broker.db.auditLog.findFirstOrThrow({ where: { action: "retention.purge" } });
    assert.deepEqual(JSON.parse(purge.after!), { audit: 5, sessions: 2, auditDays: 30, historyDays: 60 });

    assert.deepEqual(await purgeExpired(broker.storage, { auditDays: 30, historyDays: 60 }, now), { audit: 0, sessions: 0 }, "nothing left to remove");
    assert.deepEqual(await purgeExpired(broker.storage, { auditDays: 0, historyDays: 0 }, new Date(now.getTime() + 10_000 * DAY)), { audit: 0, sessions: 0 }, "0 keeps for ever");
  });

  test("a purge larger than one batch removes everything due", async () => {
    const old = new Date(Date.now() - 400 * DAY);
    await broker.db.auditLog.createMany({ data: Array.from({ length: 25 }, () => ({ at: old, actor: "test", action: "batch.entry" })) });
    const removed = await broker.storage.audit.purgeBefore(new Date(Date.now() - 300 * DAY), 7);
    assert.equal(removed, 25);
    assert.equal(await broker.db.auditLog.count({ where: { action: "batch.entry" } }), 0);
  });
});
