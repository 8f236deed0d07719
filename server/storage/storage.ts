// The one way every process (daemon, dtcpctl, web app, tests, benchmarks) opens the broker's
// storage: from DATABASE_URL, to the repositories. Which engine serves a URL is decided here.
import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import { openDatabase, type Db } from "../db/client.ts";
import { openLoginStore, type LoginStore } from "../db/login-store.ts";
import { AuditLog } from "../repositories/audit/repository.ts";
import { AllocationRepository } from "../repositories/delegations/repository.ts";
import { PoolRepository } from "../repositories/pools/repository.ts";
import { PopRepository } from "../repositories/pops/repository.ts";
import { SessionHistory } from "../repositories/sessions/repository.ts";
import { SettingsRepository } from "../repositories/settings/repository.ts";
import { SetupRepository } from "../repositories/setup/repository.ts";
import { TwoFactorRepository } from "../repositories/two-factor/repository.ts";
import { UserRepository } from "../repositories/users/repository.ts";
import { WebSessionRepository } from "../repositories/web-sessions/repository.ts";
import { lazySecretBox, loadKeyFile, loadOrCreateSecretKey, TunnelPasswordBox, type SecretBox } from "../secrets/tunnel-password.ts";
import { parseDatabaseUrl } from "./database-url.ts";
import { openPostgresLoginStore } from "./postgres/login-store.ts";
import { openPostgres } from "./postgres/open.ts";

/** The repositories of the web app and dtcpctl: plain domain operations, no database handle. */
export interface Repositories {
  readonly users: UserRepository;
  readonly pops: PopRepository;
  readonly pools: PoolRepository;
  readonly allocations: AllocationRepository;
  readonly sessions: SessionHistory;
  readonly audit: AuditLog;
  readonly settings: SettingsRepository;
  readonly setup: SetupRepository;
  readonly twoFactor: TwoFactorRepository;
  readonly webSessions: WebSessionRepository;
}

export interface Storage extends Repositories {
  readonly engine: "sqlite" | "postgresql";
  /** The seal for DTCP passwords and TOTP secrets. */
  readonly box: SecretBox;
  /** The ORM client, for the daemon's and the tests' own queries until they move behind repositories. */
  readonly db: Db;
  /** The login path's own fast statements, for the daemon of one POP. */
  openLoginStore(popId: number): LoginStore;
  /** Resolves when the database answers a query; rejects with its error when it does not. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type StorageOptions =
  /**
   * Where the sealing key lives; it is read (or created, mode 0600) when a secret is first sealed
   * or opened; with a previous key file during a rotation.
   */
  | { secretKeyFile: string; previousSecretKeyFile?: string | null }
  /** The sealing key itself (and previous ones), read by the caller (a daemon checks them at start). */
  | { secretKey: Buffer; previousSecretKeys?: Buffer[] };

/** Opens the storage DATABASE_URL names, creating and migrating the database as needed. */
export async function openStorage(url: string, options: StorageOptions): Promise<Storage> {
  const target = parseDatabaseUrl(url);
  const db = target.engine === "sqlite" ? await openDatabase(url) : await openPostgres(url);
  const box =
    "secretKey" in options
      ? new TunnelPasswordBox(options.secretKey, options.previousSecretKeys)
      : lazySecretBox(
          () => loadOrCreateSecretKey(options.secretKeyFile),
          () => (options.previousSecretKeyFile ? [loadKeyFile(options.previousSecretKeyFile)] : []),
        );
  return {
    engine: target.engine,
    box,
    db,
    users: new UserRepository(db, box),
    pops: new PopRepository(db),
    pools: new PoolRepository(db),
    allocations: new AllocationRepository(db),
    sessions: new SessionHistory(db),
    audit: new AuditLog(db),
    settings: new SettingsRepository(db),
    setup: new SetupRepository(db),
    twoFactor: new TwoFactorRepository(db, box),
    webSessions: new WebSessionRepository(db),
    openLoginStore: (popId) => (target.engine === "sqlite" ? openLoginStore(url, popId) : openPostgresLoginStore(url, popId)),
    ping: async () => {
      await db.$queryRawUnsafe("SELECT 1");
      // A full disk leaves SQLite readable and every write failing.
      if (target.engine === "sqlite") diskHasRoom(target.file);
    },
    close: () => db.$disconnect(),
  };
}

/** Below this much free space where the database lives, it counts as unavailable: writes are about to fail. */
const MIN_FREE_BYTES = 1 << 20;

function diskHasRoom(file: string): void {
  const { bavail, bsize } = statfsSync(dirname(file));
  if (bavail * bsize < MIN_FREE_BYTES) throw Object.assign(new Error(`the disk holding ${file} is full`), { code: "ENOSPC" });
}
