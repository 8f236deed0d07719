// Test fixture: a migrated database in a temporary directory for one test file, with the user
// repository most repository tests start from. Registers its own before/after hooks.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import type { Db } from "../../server/db/client.ts";
import type { SecretBox } from "../../server/secrets/tunnel-password.ts";
import { openStorage, type Storage } from "../../server/storage/storage.ts";
import { scratchDatabaseUrl } from "./engine.ts";
import type { UserRepository } from "../../server/repositories/users/repository.ts";

export interface TestDatabase {
  readonly storage: Storage;
  readonly db: Db;
  readonly box: SecretBox;
  readonly users: UserRepository;
}

export function testDatabase(name: string): TestDatabase {
  let dir = "";
  const fixture = {} as { storage: Storage; db: Db; box: SecretBox; users: UserRepository };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), `${name}-`));
    fixture.storage = await openStorage(scratchDatabaseUrl(dir), { secretKey: Buffer.alloc(32, 7) });
    Object.assign(fixture, { db: fixture.storage.db, box: fixture.storage.box, users: fixture.storage.users });
  });
  after(async () => {
    await fixture.storage.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return fixture;
}
