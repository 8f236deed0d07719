// Removing, disabling or re-keying a user ends their live session at once, whoever does it; their
// session history survives the account; a prefix is never handed out while a session holds it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TestBroker } from "./support/broker.ts";
import { DtcpClient } from "./support/dtcp-client.ts";

const ADMIN = { name: "test" };

describe("revocation of live sessions", () => {
  let broker: TestBroker;
  const clients: DtcpClient[] = [];

  const login = async (user: { name: string; password: string }, type = "network") => {
    const client = await DtcpClient.connect(broker.port);
    clients.push(client);
    const reply = await client.tunnel(user.name, user.password, type);
    assert.match(reply ?? "", /^\+OK /);
    return { client, reply: reply! };
  };

  /** The next line, then the close (the time it takes is bench:control's, not a test's). */
  const endedWith = async (client: DtcpClient) => {
    const line = await client.readLine(15_000);
    await client.waitClosed(15_000);
    return line;
  };

  before(async () => {
    broker = await TestBroker.start({ revocationCheckMs: 200 });
    await broker.pool({ cidr: "2001:db8:100::/44", purpose: "delegation", prefixLength: 48, autoDelegate: true });
  });
  after(async () => {
    for (const c of clients) c.close();
    await broker.stop();
  });

  test("removing a user ends their session at once; its row stays, under their name", async () => {
    const gina = await broker.user("gina");
    const { client } = await login(gina);
    assert.equal(await client.command("ping"), "+OK hi, happy to hear from you");
    await broker.users().remove("gina", ADMIN);
    assert.equal(await endedWith(client), "-ERR account removed or disabled");
    const rows = await broker.db.session.findMany({ where: { userName: "gina" } });
    assert.equal(rows.length, 1, "the history survives the account");
    assert.equal(rows[0]!.userId, null);
    assert.equal(rows[0]!.endReason, "revoked");
    assert.notEqual(rows[0]!.endedAt, null);
  });

  test("disabling a user ends their session at once", async () => {
    const hugo = await broker.user("hugo");
    const { client } = await login(hugo, "tunnelonly");
    await broker.users().setDisabled("hugo", true, ADMIN);
    assert.equal(await endedWith(client), "-ERR account removed or disabled");
  });

  test("a new DTCP password ends the session that logged in with the old one", async () => {
    const ivy = await broker.user("ivy");
    const { client } = await login(ivy, "tunnelonly");
    const password = await broker.users().rotateTunnelPassword("ivy", ADMIN);
    assert.equal(await endedWith(client), "-ERR tunnel password changed");
    await login({ name: "ivy", password });
  });
});

describe("prefixes held by live sessions", () => {
  let broker: TestBroker;
  const clients: DtcpClient[] = [];

  before(async () => {
    // The daemon does not get round to ending the removed user's session during this test.
    broker = await TestBroker.start({ revocationCheckMs: 3_600_000 });
    await broker.pool({ cidr: "2001:db8:200::/47", purpose: "delegation", prefixLength: 48, autoDelegate: true });
  });
  after(async () => {
    for (const c of clients) c.close();
    await broker.stop();
  });

  test("a removed user's prefix is not handed to anyone while their session still holds it", async () => {
    const login = async (name: string) => {
      const user = await broker.user(name);
      const client = await DtcpClient.connect(broker.port);
      clients.push(client);
      return client.tunnel(user.name, user.password, "network");
    };
    const first = await login("gina");
    assert.equal(first, "+OK 127.0.0.1 127.0.0.1 2001:db8:200::/48");
    await broker.users().remove("gina", ADMIN);
    assert.equal(await broker.db.delegation.count(), 0, "her delegation went with her account");
    assert.equal(await login("jack"), "+OK 127.0.0.1 127.0.0.1 2001:db8:201::/48");
    assert.equal(await login("kate"), "-ERR tunnel interface sold out", "the live session's /48 is still taken");
  });
});
