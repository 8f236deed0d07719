import { resolvePaths } from "@/server/config.ts";
import { openDatabase, type Db } from "@/server/db/client.ts";
import { AllocationRepository } from "@/server/repositories/delegations/repository.ts";
import { PoolRepository } from "@/server/repositories/pools/repository.ts";
import { SettingsRepository } from "@/server/repositories/settings/repository.ts";
import { SetupRepository } from "@/server/repositories/setup/repository.ts";
import { TwoFactorRepository } from "@/server/repositories/two-factor/repository.ts";
import { UserRepository } from "@/server/repositories/users/repository.ts";
import { WebSessionRepository } from "@/server/repositories/web-sessions/repository.ts";
import { loadOrCreateSecretKey, TunnelPasswordBox } from "@/server/secrets/tunnel-password.ts";

/** The repositories the web app works through: the same ones dtcpctl uses. */
export interface Broker {
  db: Db;
  users: UserRepository;
  pools: PoolRepository;
  allocations: AllocationRepository;
  webSessions: WebSessionRepository;
  setup: SetupRepository;
  twoFactor: TwoFactorRepository;
  settings: SettingsRepository;
}

async function open(): Promise<Broker> {
  const paths = resolvePaths();
  const db = await openDatabase(paths.databaseUrl);
  const box = new TunnelPasswordBox(loadOrCreateSecretKey(paths.secretKeyFile));
  return {
    db,
    users: new UserRepository(db, box),
    pools: new PoolRepository(db),
    allocations: new AllocationRepository(db),
    webSessions: new WebSessionRepository(db),
    setup: new SetupRepository(db),
    twoFactor: new TwoFactorRepository(db, box),
    settings: new SettingsRepository(db),
  };
}

// One connection per process, kept on globalThis so that `next dev` reloads do not open more.
const holder = globalThis as typeof globalThis & { brokerRepositories?: Promise<Broker> };

export function broker(): Promise<Broker> {
  holder.brokerRepositories ??= open().catch((err: unknown) => {
    holder.brokerRepositories = undefined;
    throw err;
  });
  return holder.brokerRepositories;
}
