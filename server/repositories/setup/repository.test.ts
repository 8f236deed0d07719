import assert from "node:assert/strict";
import { test } from "node:test";
import { hashToken } from "../../secrets/token.ts";
import { DomainError } from "../../domain/errors.ts";
import { SettingsRepository } from "../settings/repository.ts";
import { SETUP_TOKEN_TTL_MS, SetupRepository } from "./repository.ts";
import { testDatabase } from "../../../test/support/test-database.ts";

const actor = { name: "web:setup" };

const t = testDatabase("setup");

test("the set-up link: hashed, expiring, single use, and the admin is created with the token used up", async () => {
  let now = new Date("2026-01-01T00:00:00Z");
  const setup = new SetupRepository(t.db, () => now);
  const stale = (await setup.issue())!;
  const token = (await setup.issue())!;
  assert.equal(await setup.usable(stale), false, "a newer link replaces older ones");
  assert.equal(await setup.usable(token), true);
  assert.equal((await t.db.setupToken.findMany()).map((t) => t.id).join(), hashToken(token));

  // A bad password leaves the token usable and creates nobody.
  await assert.rejects(setup.complete(token, { name: "root", password: "short", publicHost: "tunnel.example.net" }, t.users, actor), (err: DomainError) => err.field === "webPassword");
  assert.equal(await setup.usable(token), true);
  assert.equal(await t.db.setting.count(), 0, "a refused set-up saves no server name");

  now = new Date(now.getTime() + SETUP_TOKEN_TTL_MS + 1);
  await assert.rejects(setup.complete(token, { name: "root", password: "a long admin password" }, t.users, actor), /expired/);
  assert.equal(await t.db.user.count(), 0);
  now = new Date(now.getTime() - 2);

  const { user } = await setup.complete(token, { name: "root", password: "a long admin password", publicHost: "tunnel.example.net" }, t.users, actor);
  assert.equal(user.role, "admin");
  assert.equal(await new SettingsRepository(t.db).get("publicHost"), "tunnel.example.net", "the server name is saved with the administrator");
  assert.deepEqual(
    (await t.db.auditLog.findMany({ where: { action: "setting.set" } })).map((e) => [e.actor, e.target, e.after]),
    [["web:setup", "publicHost", '{"publicHost":"tunnel.example.net"}']],
  );
  assert.equal((await t.users.checkWebPassword("root", "a long admin password"))?.name, "root");
  assert.equal(await setup.usable(token), false);
  await assert.rejects(setup.complete(token, { name: "root2", password: "a long admin password" }, t.users, actor), /used up/);
  assert.equal(await setup.issue(), null, "no new link once an administrator exists");
});
