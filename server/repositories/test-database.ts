// Test fixture: a migrated database in a temporary directory for one test file, with the user
// repository most repository tests start from. Registers its own before/after hooks.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { openDatabase, type Db } from "../db/client.ts";
import { TunnelPasswordBox } from "../secrets/tunnel-password.ts";
import { UserRepository } from "./users/repository.ts";

export interface TestDatabase {
  readonly db: Db;
  readonly box: TunnelPasswordBox;
  readonly users: UserRepository;
}

export function testDatabase(name: string): TestDatabase {
  let dir = "";
  const fixture = { box: new TunnelPasswordBox(Buffer.alloc(32, 7)) } as { db: Db; box: TunnelPasswordBox; users: UserRepository };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), `${name}-`));
    fixture.db = await openDatabase(`file:${join(dir, "broker.db")}`);
    fixture.users = new UserRepository(fixture.db, fixture.box);
  });
  after(async () => {
    await fixture.db.$disconnect();
    rmSync(dir, { recursive: true, force: true });
  });
  return fixture;
}
