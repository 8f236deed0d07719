import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { openDatabase, type Db } from "../../db/client.ts";
import { hashToken } from "../../secrets/token.ts";
import { TunnelPasswordBox } from "../../secrets/tunnel-password.ts";
import { DomainError } from "../errors.ts";
import { UserRepository } from "../users/repository.ts";
import { SETUP_TOKEN_TTL_MS, SetupRepository } from "./repository.ts";

let dir: string;
let db: Db;
let users: UserRepository;
const actor = { name: "web:setup" };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "setup-"));
  db = await openDatabase(`file:${join(dir, "broker.db")}`);
  users = new UserRepository(db, new TunnelPasswordBox(Buffer.alloc(32, 7)));
});
after(async () => {
  await db.$disconnect();
  rmSync(dir, { recursive: true, force: true });
});

test("the set-up link: hashed, expiring, single use, and the admin is created with the token used up", async () => {
  let now = new Date("2026-01-01T00:00:00Z");
  const setup = new SetupRepository(db, () => now);
  const stale = (await setup.issue())!;
  const token = (await setup.issue())!;
  assert.equal(await setup.usable(stale), false, "a newer link replaces older ones");
  assert.equal(await setup.usable(token), true);
  assert.equal((await db.setupToken.findMany()).map((t) => t.id).join(), hashToken(token));

  // A bad password leaves the token usable and creates nobody.
  await assert.rejects(setup.complete(token, { name: "root", password: "short" }, users, actor), (err: DomainError) => err.field === "webPassword");
  assert.equal(await setup.usable(token), true);

  now = new Date(now.getTime() + SETUP_TOKEN_TTL_MS + 1);
  await assert.rejects(setup.complete(token, { name: "root", password: "a long admin password" }, users, actor), /expired/);
  assert.equal(await db.user.count(), 0);
  now = new Date(now.getTime() - 2);

  const { user } = await setup.complete(token, { name: "root", password: "a long admin password" }, users, actor);
  assert.equal(user.role, "admin");
  assert.equal((await users.checkWebPassword("root", "a long admin password"))?.name, "root");
  assert.equal(await setup.usable(token), false);
  await assert.rejects(setup.complete(token, { name: "root2", password: "a long admin password" }, users, actor), /used up/);
  assert.equal(await setup.issue(), null, "no new link once an administrator exists");
});
