import assert from "node:assert/strict";
import { test } from "node:test";
import { base32Decode, totp } from "../../secrets/totp.ts";
import { DomainError } from "../../domain/errors.ts";
import { SettingsRepository } from "../settings/repository.ts";
import { SECOND_FACTOR_MAX_FAILURES, WebSessionRepository } from "../web-sessions/repository.ts";
import { generateRecoveryCode, normaliseRecoveryCode, TwoFactorRepository } from "./repository.ts";
import { testDatabase } from "../../../test/support/test-database.ts";

let clock = new Date("2026-11-29T12:00:10Z");
const actor = { name: "test" };
const now = () => clock;
const code = (secret: string, offsetS = 0) => totp(base32Decode(secret), Math.floor(clock.getTime() / 1000) + offsetS);

const t = testDatabase("two-factor");

test("enrolment: a pending secret, sealed at rest, active only after a right code; then 10 single-use recovery codes", async () => {
  const { user } = await t.users.create({ name: "dora" }, actor);
  const tf = new TwoFactorRepository(t.db, t.box, now);
  assert.deepEqual(await tf.status(user.id), { enabled: false, enabledAt: null, pending: false, recoveryCodesLeft: 0 });
  const secret = await tf.begin(user.id, actor);
  assert.equal(await tf.pendingSecret(user.id), secret);
  const row = await t.db.user.findUniqueOrThrow({ where: { id: user.id } });
  assert.ok(!Buffer.from(row.totpPendingSecret!).toString("latin1").includes(secret), "stored sealed");
  assert.equal((await tf.status(user.id)).pending, true);
  assert.equal(await tf.verify(user.id, code(secret)), null, "not active before confirmation");

  await assert.rejects(tf.confirm(user.id, "000000", actor), (err: unknown) => err instanceof DomainError && err.field === "code");
  clock = new Date(clock.getTime() + 30_000);
  const codes = await tf.confirm(user.id, code(secret), actor);
  assert.equal(codes.length, 10);
  assert.equal(new Set(codes).size, 10);
  for (const c of codes) assert.match(c, /^[a-z0-9]{5}-[a-z0-9]{5}$/);
  const status = await tf.status(user.id);
  assert.equal(status.enabled, true);
  assert.equal(status.pending, false);
  assert.equal(status.recoveryCodesLeft, 10);
  const stored = await t.db.recoveryCode.findMany({ where: { userId: user.id } });
  assert.ok(stored.every((r) => !codes.includes(r.hash)), "only hashes are stored");

  // The code that confirmed the enrolment cannot sign in again, nor can an older one.
  assert.equal(await tf.verify(user.id, code(secret)), null);
  assert.equal(await tf.verify(user.id, code(secret, -30)), null);
  clock = new Date(clock.getTime() + 30_000);
  const fresh = code(secret);
  assert.equal(await tf.verify(user.id, fresh), "totp");
  assert.equal(await tf.verify(user.id, fresh), null, "a code works once");

  const recovery = codes[3]!;
  assert.equal(await tf.verify(user.id, recovery.toUpperCase().replace("-", " ")), "recovery-code");
  assert.equal(await tf.verify(user.id, recovery), null, "a recovery code works once");
  assert.equal((await tf.status(user.id)).recoveryCodesLeft, 9);
  assert.equal(await tf.verify(user.id, "zzzzz-zzzzz"), null);

  await tf.disable(user.id, actor);
  assert.deepEqual(await tf.status(user.id), { enabled: false, enabledAt: null, pending: false, recoveryCodesLeft: 0 });
  const actions = (await t.db.auditLog.findMany({ where: { target: "dora" }, orderBy: { id: "asc" } })).map((a) => a.action);
  assert.deepEqual(actions.slice(-3), ["user.totp.enrol-start", "user.totp.enable", "user.totp.disable"]);
});

test("recovery codes: normalised and from a look-alike-free alphabet", () => {
  assert.equal(normaliseRecoveryCode(" AbCdE-fGhJk "), "abcdefghjk");
  for (let i = 0; i < 50; i++) assert.match(generateRecoveryCode(), /^[a-hjkmnp-z2-9]{5}-[a-hjkmnp-z2-9]{5}$/);
});

test("a half-signed-in session grants nothing, and ends after too many wrong codes", async () => {
  const { user } = await t.users.create({ name: "eve" }, actor);
  const sessions = new WebSessionRepository(t.db, now);
  const { token } = await sessions.startPending(user, "agent", "192.0.2.9");
  assert.equal(await sessions.find(token), null);
  assert.equal((await sessions.findPending(token))?.user.name, "eve");
  for (let i = 1; i < SECOND_FACTOR_MAX_FAILURES; i++) assert.equal(await sessions.secondFactorFailed(token), true);
  assert.equal(await sessions.secondFactorFailed(token), false);
  assert.equal(await sessions.findPending(token), null);
  // A full session is not a pending one.
  const full = await sessions.start(user, "agent", "192.0.2.9", "totp");
  assert.equal(await sessions.findPending(full.token), null);
  assert.equal((await sessions.find(full.token))?.user.name, "eve");
});

test("settings: defaults, then audited changes", async () => {
  const settings = new SettingsRepository(t.db);
  assert.equal(await settings.get("requireAdminTotp"), false);
  await settings.set("requireAdminTotp", true, actor);
  assert.equal(await settings.get("requireAdminTotp"), true);
  const entry = await t.db.auditLog.findFirstOrThrow({ where: { action: "setting.set" }, orderBy: { id: "desc" } });
  assert.equal(entry.target, "requireAdminTotp");
  assert.equal(entry.after, '{"requireAdminTotp":true}');
});
