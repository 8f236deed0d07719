import assert from "node:assert/strict";
import { test } from "node:test";
import { hashToken } from "../../secrets/token.ts";
import { WEB_SESSION_IDLE_MS, WebSessionRepository } from "./repository.ts";
import { testDatabase } from "../../../test/support/test-database.ts";

const actor = { name: "test" };

const t = testDatabase("web-sessions");

test("a session is found by its token, stored only as a hash, and ends", async () => {
  const { user } = await t.users.create({ name: "carol" }, actor, { webPassword: "a long web password" });
  const sessions = new WebSessionRepository(t.db);
  const { token } = await sessions.start(user, "agent", "192.0.2.1");
  const row = await t.db.webSession.findFirstOrThrow({ where: { userId: user.id } });
  assert.equal(row.id, hashToken(token));
  assert.notEqual(row.id, token);
  // Only who they are travels with a sign-in: no password hash, sealed password or TOTP secret.
  assert.deepEqual((await sessions.find(token))?.user, { id: user.id, name: "carol", role: "user", totp: false });
  assert.equal(await sessions.find("not-a-token"), null);
  await sessions.end(token);
  assert.equal(await sessions.find(token), null);
});

test("sessions expire when idle and slide while in use", async () => {
  const { user } = await t.users.create({ name: "dave" }, actor);
  let now = new Date("2026-01-01T00:00:00Z");
  const sessions = new WebSessionRepository(t.db, () => now);
  const { token } = await sessions.start(user, null, "192.0.2.1");
  now = new Date(now.getTime() + WEB_SESSION_IDLE_MS - 60_000);
  assert.ok(await sessions.find(token), "still valid just before the idle limit");
  now = new Date(now.getTime() + WEB_SESSION_IDLE_MS - 60_000);
  assert.ok(await sessions.find(token), "the previous use moved the limit");
  now = new Date(now.getTime() + WEB_SESSION_IDLE_MS + 1);
  assert.equal(await sessions.find(token), null);
  assert.equal(await sessions.prune(), 1);
});

test("disabling a user, a new web password and end-all sign browsers out", async () => {
  const { user } = await t.users.create({ name: "erin" }, actor, { webPassword: "a long web password" });
  const sessions = new WebSessionRepository(t.db);
  const a = await sessions.start(user, null, "192.0.2.1");
  const b = await sessions.start(user, null, "192.0.2.2");
  const kept = (await sessions.find(a.token))!.session.id;
  await t.users.setWebPassword("erin", "another long password", actor, kept);
  assert.ok(await sessions.find(a.token), "the session that changed the password stays");
  assert.equal(await sessions.find(b.token), null);
  assert.equal(await t.users.checkWebPassword("erin", "a long web password"), null);
  assert.equal((await t.users.checkWebPassword("erin", "another long password"))?.name, "erin");

  const c = await sessions.start(user, null, "192.0.2.3");
  assert.equal(await sessions.endAll("erin", actor), 2);
  assert.equal(await sessions.find(c.token), null);

  const d = await sessions.start(user, null, "192.0.2.4");
  await t.users.setDisabled("erin", true, actor);
  assert.equal(await sessions.find(d.token), null);
  assert.equal(await t.users.checkWebPassword("erin", "another long password"), null, "a disabled user cannot sign in");
  const actions = (await t.db.auditLog.findMany({ where: { target: "erin" } })).map((a) => a.action);
  assert.ok(actions.includes("user.web-password.set") && actions.includes("web-session.end-all") && actions.includes("web.sign-in"));
  assert.ok((await t.db.auditLog.findMany()).every((a) => !`${a.before}${a.after}`.includes("argon2")), "no hash in the audit log");
});

test("short web passwords are refused on their field", async () => {
  await assert.rejects(t.users.create({ name: "frank" }, actor, { webPassword: "short" }), { field: "webPassword" });
  assert.equal(await t.db.user.count({ where: { name: "frank" } }), 0);
});
