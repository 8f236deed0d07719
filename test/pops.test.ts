// Several POPs on one database: each daemon serves only its own users and routes only its own
// pools; moving a user ends their session on the old POP and gives them the new POP's prefixes; a
// POP that falls silent has its sessions ended (pop-lost) by the others. Runs on SQLite and, with
// npm run test:postgres, on PostgreSQL.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { NoDataPlane } from "../server/dataplane/types.ts";
import { TestBroker } from "./support/broker.ts";
import { DtcpClient } from "./support/dtcp-client.ts";

const ADMIN = { name: "test" };

/** A data plane that carries nothing and remembers which pools it was told to route. */
class RecordingPlane extends NoDataPlane {
  constructor(public pools: readonly string[]) {
    super();
  }
  override async setPools(pools: readonly string[]): Promise<void> {
    this.pools = pools;
  }
}

describe("several POPs on one database", () => {
  let home: TestBroker;
  let paris: TestBroker;
  const planes: Record<string, RecordingPlane> = {};
  const clients: DtcpClient[] = [];

  const login = async (broker: TestBroker, user: { name: string; password: string }, type = "network") => {
    const client = await DtcpClient.connect(broker.port);
    clients.push(client);
    return { client, reply: await client.tunnel(user.name, user.password, type) };
  };

  before(async () => {
    home = await TestBroker.start({ revocationCheckMs: 200, dataPlane: (pools) => (planes.home = new RecordingPlane(pools)) });
    await home.storage.pops.add({ name: "paris", publicHost: "paris.example.net" }, ADMIN);
    paris = await TestBroker.start({ sharing: home, pop: { name: "paris" }, revocationCheckMs: 200, dataPlane: (pools) => (planes.paris = new RecordingPlane(pools)) });
    await home.pool({ cidr: "2001:db8:100::/44", purpose: "delegation", prefixLength: 48, autoDelegate: true, pop: "default" });
    await home.pool({ cidr: "2001:db8:ff00::/64", purpose: "link", pop: "default" });
    await home.pool({ cidr: "2001:db8:200::/44", purpose: "delegation", prefixLength: 48, autoDelegate: true, pop: "paris" });
    await home.pool({ cidr: "2001:db8:fe00::/64", purpose: "link", pop: "paris" });
  });
  after(async () => {
    for (const c of clients) c.close();
    await paris?.stop();
    await home?.stop();
  });

  test("with several POPs, users and pools must say which one; a name that is no POP is refused", async () => {
    await assert.rejects(home.user("nowhere"), { message: /^choose a POP: there are several \(default, paris\)$/, field: "pop" });
    await assert.rejects(home.user("nowhere", { pop: "lyon" }), { message: "no POP named lyon", field: "pop" });
    await assert.rejects(home.pool({ cidr: "2001:db8:300::/44", purpose: "delegation" }), { field: "pop" });
    assert.equal(await home.db.user.count({ where: { name: "nowhere" } }), 0);
  });

  test("each daemon routes only its own POP's pools, also those added while it runs", async () => {
    const routed = () => ({ home: [...planes.home!.pools].sort(), paris: [...planes.paris!.pools].sort() });
    const until = async (check: () => boolean) => {
      for (const end = Date.now() + 5_000; !check() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
    };
    await until(() => routed().paris.length === 2 && routed().home.length === 2);
    assert.deepEqual(routed(), { home: ["2001:db8:100::/44", "2001:db8:ff00::/64"], paris: ["2001:db8:200::/44", "2001:db8:fe00::/64"] });
    await home.pool({ cidr: "2001:db8:400::/44", purpose: "delegation", prefixLength: 48, pop: "paris" });
    await until(() => routed().paris.length === 3);
    assert.deepEqual(routed().paris, ["2001:db8:200::/44", "2001:db8:400::/44", "2001:db8:fe00::/64"]);
    assert.deepEqual(routed().home, ["2001:db8:100::/44", "2001:db8:ff00::/64"]);
  });

  test("a user is served by their own POP only; elsewhere the login fails as a wrong password would", async () => {
    const anna = await home.user("anna", { pop: "paris" });
    const wrong = await login(home, anna);
    assert.equal(wrong.reply, "-ERR authentication failed.");
    const right = await login(paris, anna);
    assert.match(right.reply ?? "", /^\+OK 127\.0\.0\.1 127\.0\.0\.1 2001:db8:2[0-9a-f]{2}::\/48$/, "a prefix of the POP's own pool");
    const rows = await home.storage.sessions.list({ live: true, userName: "anna" });
    assert.deepEqual(rows.map((r) => r.pop), ["paris"]);
    right.client.close();
  });

  test("moving a live user ends their session on the old POP within 2 s and gives them the new POP's prefixes", async () => {
    const ben = await home.user("ben", { pop: "default" });
    const host = await login(home, ben, "host");
    assert.match(host.reply ?? "", /^\+OK \S+ \S+ 2001:db8:ff00::/);
    const { reply } = await login(home, ben, "network");
    assert.match(reply ?? "", /^\+OK 127\.0\.0\.1 127\.0\.0\.1 2001:db8:10[0-9a-f]::\/48$/);
    const session = clients.at(-1)!;
    const moved = await home.users().update("ben", { pop: "paris" }, ADMIN);
    assert.equal(moved.pop, "paris");
    assert.equal(await session.readLine(15_000), "-ERR account moved to another server; see the portal for its address");
    await session.waitClosed(15_000);

    const delegations = await home.storage.allocations.list("ben");
    assert.equal(delegations.length, 1);
    assert.match(delegations[0]!.prefix, /^2001:db8:[24]0[0-9a-f]::\/48$/, "the old prefix released, one of the new POP's taken");
    const pair = await home.storage.allocations.linkPair(moved.id);
    assert.match(pair?.clientAddress ?? "", /^2001:db8:fe00::/, "the link pair is the new POP's too");
    const entry = await home.db.auditLog.findFirstOrThrow({ where: { action: "user.move", target: "ben" } });
    assert.match(entry.before ?? "", /"pop":"default".*"prefixes":\["2001:db8:10[0-9a-f]::\/48"\]/);
    assert.match(entry.after ?? "", /"pop":"paris"/);
    const [row] = await home.storage.sessions.list({ userName: "ben", limit: 1 });
    assert.equal(row!.endReason, "moved");

    const again = await login(paris, ben, "network");
    assert.equal(again.reply, `+OK 127.0.0.1 127.0.0.1 ${delegations[0]!.prefix}`);
    again.client.close();
  });

  test("a move the new POP cannot give prefixes for is refused and changes nothing", async () => {
    await home.storage.pops.add({ name: "empty" }, ADMIN);
    const cleo = await home.user("cleo", { pop: "default" });
    await home.storage.allocations.delegate(cleo.name, ADMIN);
    const before = await home.storage.allocations.list("cleo");
    await assert.rejects(home.users().update("cleo", { pop: "empty", mtu: 1400 }, ADMIN), { field: "pop", message: /the POP empty has no delegation pool with room/ });
    assert.deepEqual(await home.storage.allocations.list("cleo"), before);
    const user = await home.users().get("cleo");
    assert.deepEqual([user.pop, user.mtu], ["default", 1280]);
  });

  test("a POP that falls silent has its open sessions ended (pop-lost) by another POP; a live POP's are left alone", async () => {
    const watcher = await TestBroker.start({ sharing: home, pop: { name: "watcher", lostAfterMs: 3_000 } });
    try {
      const lyon = await home.storage.pops.add({ name: "lyon" }, ADMIN);
      const dora = await home.user("dora", { pop: "paris" });
      const live = await login(paris, dora, "tunnelonly");
      assert.match(live.reply ?? "", /^\+OK /);
      const dead = await home.db.session.create({
        data: { popId: lyon.id, userName: "ghost", type: "tunnelonly", transport: "proto41", clientIpv4: "192.0.2.9", serverIpv4: "192.0.2.1" },
      });
      await home.db.pop.update({ where: { id: lyon.id }, data: { heartbeatAt: new Date(Date.now() - 60_000) } });
      for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
        if ((await home.db.session.findUniqueOrThrow({ where: { id: dead.id } })).endedAt !== null) break;
      }
      const row = await home.db.session.findUniqueOrThrow({ where: { id: dead.id } });
      assert.equal(row.endReason, "pop-lost");
      assert.equal(await live.client.command("ping"), "+OK hi, happy to hear from you", "the session of a POP that beats goes on");
      const [dorasRow] = await home.storage.sessions.list({ userName: "dora", limit: 1 });
      assert.equal(dorasRow!.endedAt, null);
      live.client.close();
    } finally {
      await watcher.stop();
    }
  });

  test("a POP serving users or routing pools cannot be removed; an unused one can", async () => {
    await assert.rejects(home.storage.pops.remove("paris", ADMIN), { message: /still has \d+ users and \d+ pools/ });
    await home.storage.pops.remove("empty", ADMIN);
    assert.equal((await home.storage.pops.list()).some((p) => p.name === "empty"), false);
  });
});
