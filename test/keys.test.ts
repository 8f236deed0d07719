// Rotating the two keys every POP shares, without a moment when logins or live views fail: POPs
// take the new key one after another with the old one as "previous", `dtcpctl secret-key reseal`
// moves every stored secret to the new key (live sessions go on), then the old key goes.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startApiServer } from "../server/api/server.ts";
import { mintToken } from "../server/api/token.ts";
import { resolvePaths } from "../server/config.ts";
import { silentLogger } from "../server/log.ts";
import { openStorage } from "../server/storage/storage.ts";
import { TestBroker } from "./support/broker.ts";
import { DtcpClient } from "./support/dtcp-client.ts";
import { LiveClient } from "./support/live-client.ts";

const REPO = new URL("..", import.meta.url).pathname;

describe("rotating the sealing key and the API key", () => {
  let broker: TestBroker;
  let alice: { name: string; password: string };
  let newKeyFile = "";
  let totpSecret = "";
  const clients: DtcpClient[] = [];

  const login = async () => {
    const client = await DtcpClient.connect(broker.port);
    clients.push(client);
    return { client, reply: await client.tunnel(alice.name, alice.password, "tunnelonly") };
  };

  before(async () => {
    broker = await TestBroker.start({ revocationCheckMs: 100 });
    alice = await broker.user("alice");
    totpSecret = await broker.storage.twoFactor.begin((await broker.users().get("alice")).id, { name: "test" });
    newKeyFile = join(broker.data.dir, "secret.key.new");
    writeFileSync(newKeyFile, randomBytes(32), { mode: 0o600 });
  });
  after(async () => {
    for (const c of clients) c.close();
    await broker.stop();
  });

  test("a daemon with the new key and the old one as previous lets users in; after the reseal, the new key alone does", async () => {
    const oldKeyFile = broker.config.paths.secretKeyFile;
    const rotating = resolvePaths({ ...broker.data.env, BROKER_SECRET_KEY_FILE: newKeyFile, BROKER_PREVIOUS_SECRET_KEY_FILE: oldKeyFile });
    await broker.restart(broker.port, { paths: rotating });
    const { client, reply } = await login();
    assert.match(reply ?? "", /^\+OK /, "opened with the previous key");

    const reseal = spawnSync(process.execPath, ["bin/dtcpctl.js", "secret-key", "reseal"], {
      cwd: REPO,
      env: { ...broker.data.env, BROKER_SECRET_KEY_FILE: newKeyFile, BROKER_PREVIOUS_SECRET_KEY_FILE: oldKeyFile },
      encoding: "utf8",
    });
    assert.equal(reseal.status, 0, reseal.stderr);
    assert.match(reseal.stdout, /^sealed the secrets of 1 users anew under .*secret\.key\.new; once every POP/);
    // The sealed bytes changed, the password did not: the check that ends sessions whose password
    // changed (run here rather than waited for) leaves it alone.
    assert.equal(await broker.daemon.broker.revokeStale(), 0);
    assert.equal(await client.command("ping"), "+OK hi, happy to hear from you");

    const newOnly = await openStorage(broker.data.env.DATABASE_URL!, { secretKeyFile: newKeyFile });
    try {
      assert.equal(await newOnly.users.tunnelPassword("alice"), alice.password, "the DTCP password opens with the new key alone");
      const withOld = await openStorage(broker.data.env.DATABASE_URL!, { secretKeyFile: oldKeyFile });
      await assert.rejects(withOld.users.tunnelPassword("alice"), /cannot be decrypted/, "and no longer with the old one");
      await withOld.close();
      assert.equal(await newOnly.twoFactor.pendingSecret((await newOnly.users.get("alice")).id), totpSecret, "the TOTP secret being enrolled was sealed anew too");
    } finally {
      await newOnly.close();
    }
    client.close();
    await broker.restart(broker.port, { paths: resolvePaths({ ...broker.data.env, BROKER_SECRET_KEY_FILE: newKeyFile }) });
    assert.match((await login()).reply ?? "", /^\+OK /);
  });

  test("a live API checking against the new key and the previous one takes tokens of both; without it, only the new key's", async () => {
    const [oldKey, newKey] = [randomBytes(32), randomBytes(32)];
    const deps = { broker: { liveView: () => [], kick: async () => false }, log: silentLogger, pop: "default", standing: async (ids: readonly string[]) => new Map(ids.map((id) => [id, { name: "root", role: "admin" as const }])) };
    const sid = "0".repeat(64);
    const rotating = await startApiServer({ host: "127.0.0.1", port: 0 }, { ...deps, key: newKey, previousKeys: [oldKey] });
    const rotated = await startApiServer({ host: "127.0.0.1", port: 0 }, { ...deps, key: newKey });
    try {
      for (const key of [oldKey, newKey]) {
        const viewer = await LiveClient.connect(rotating.address.port, mintToken(key, { sub: "root", role: "admin", sid, pop: "default" }));
        assert.equal((await viewer.next((m) => m.type === "snapshot")).type, "snapshot");
        viewer.close();
      }
      assert.equal(await LiveClient.refusal(rotated.address.port, ["dtcp-live", mintToken(oldKey, { sub: "root", role: "admin", sid, pop: "default" })]), 401);
    } finally {
      await rotating.close();
      await rotated.close();
    }
  });
});
