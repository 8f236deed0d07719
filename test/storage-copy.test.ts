// Moving a SQLite broker to PostgreSQL with `dtcpctl db copy-to`: everything arrives, secrets
// included, and the new database goes on as the old one would have.
import { DEFAULT_POP } from "../server/repositories/pops/schema.ts";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { openStorage, type Storage } from "../server/storage/storage.ts";
import { startPostgres, type PostgresServer } from "./support/postgres.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const actor = { name: "test" };

describe("dtcpctl db copy-to", { timeout: 120_000 }, () => {
  let server: PostgresServer;
  const dir = mkdtempSync(join(tmpdir(), "dtcp-copy-"));
  const env = { ...process.env, BROKER_DATA_DIR: dir, DATABASE_URL: `file:${join(dir, "broker.db")}` };
  let source: Storage;
  let alicePassword = "";
  const copy = (url: string) => spawnSync(process.execPath, ["bin/dtcpctl.js", "db", "copy-to", url], { cwd: REPO, env, encoding: "utf8" });

  before(async () => {
    server = await startPostgres();
    source = await openStorage(env.DATABASE_URL, { secretKeyFile: join(dir, "secret.key") });
    ({ tunnelPassword: alicePassword } = await source.users.create({ name: "alice", email: "alice@example.net" }, actor, { webPassword: "alice's web password" }));
    await source.users.create({ name: "bob" }, actor);
    await source.pools.add({ cidr: "2001:db8:ffff::/64", purpose: "link" }, actor);
    await source.pools.add({ cidr: "2001:db8:100::/40", purpose: "delegation", prefixLength: 48 }, actor);
    await source.allocations.delegate("alice", actor);
    const alice = await source.users.get("alice");
    await source.allocations.linkPairForLogin(alice.id, "alice", actor);
    await source.webSessions.start(alice, "browser", "192.0.2.1");
    await source.settings.set("publicHost", "tunnel.example.net", actor);
    const store = source.openLoginStore((await source.pops.get(DEFAULT_POP)).id);
    const [id] = await store.startSessions(
      [{ userId: alice.id, userName: "alice", type: "host", transport: "udp", clientIpv4: "192.0.2.1", serverIpv4: "192.0.2.2", clientUdpPort: null, serverUdpPort: 4028, clientIpv6: null, serverIpv6: null, prefix: null }],
      new Date(),
    );
    await store.endSessions([{ id: id!, reason: "quit", counters: { bytesIn: 5_000_000_000n, bytesOut: 7n, packetsIn: 3n, packetsOut: 4n }, at: new Date() }]);
    await store.close();
  });
  after(async () => {
    await source?.close();
    server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("copies every row with its id and secrets, verifies the counts, and the copy works as the original", async () => {
    const url = await server.database("moved");
    const run = copy(url);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^user: 2 rows$/m);
    assert.match(run.stdout, /copied \d+ rows; the counts match/);

    const target = await openStorage(url, { secretKeyFile: join(dir, "secret.key") });
    try {
      assert.equal(target.engine, "postgresql");
      assert.equal(await target.users.tunnelPassword("alice"), alicePassword, "the sealed DTCP password opens with the same key");
      assert.equal((await target.users.checkWebPassword("alice", "alice's web password"))?.name, "alice");
      assert.deepEqual((await target.users.list()).map((u) => [u.id, u.name, u.email]), (await source.users.list()).map((u) => [u.id, u.name, u.email]));
      assert.deepEqual((await target.allocations.list()).map((d) => d.prefix), ["2001:db8:100::/48"]);
      assert.equal((await target.allocations.linkPair((await target.users.get("alice")).id))?.block, (await source.allocations.linkPair((await source.users.get("alice")).id))?.block);
      assert.equal(await target.settings.get("publicHost"), "tunnel.example.net");
      const [session] = await target.sessions.list({ userName: "alice" });
      assert.equal(session?.bytesIn, 5_000_000_000n);
      assert.equal((await target.audit.list({ action: "user.create" })).length, 2);
      // The id sequences continue after the copied rows.
      const { user: carol } = await target.users.create({ name: "carol" }, actor);
      assert.ok(carol.id > (await source.users.get("bob")).id);
    } finally {
      await target.close();
    }
  });

  test("a database that holds anything is refused, and nothing is merged into it", async () => {
    const url = await server.database("busy");
    const target = await openStorage(url, { secretKeyFile: join(dir, "secret.key") });
    await target.users.create({ name: "zed" }, actor);
    await target.close();
    const run = copy(url);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /the target database is not empty \(1 rows in user\): copy into a new, empty database/);
  });
});
