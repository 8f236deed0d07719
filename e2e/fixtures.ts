// Test data made through the repositories, not through the UI, wherever the UI is not what a test is about.
import { randomBytes } from "node:crypto";
import { test as base, expect, type BrowserContext } from "@playwright/test";
import { resolvePaths } from "../server/config.ts";
import type { Db } from "../server/db/client.ts";
import type { AllocationRepository } from "../server/repositories/delegations/repository.ts";
import type { PoolRepository } from "../server/repositories/pools/repository.ts";
import type { NewPool } from "../server/repositories/pools/schema.ts";
import type { UserRepository } from "../server/repositories/users/repository.ts";
import type { NewUser } from "../server/repositories/users/schema.ts";
import type { WebSessionRepository } from "../server/repositories/web-sessions/repository.ts";
import { openStorage, type Storage } from "../server/storage/storage.ts";
import { hashToken } from "../server/secrets/token.ts";

const actor = { name: "e2e" };

export interface TestUser {
  id: number;
  name: string;
  role: string;
  webPassword: string;
  tunnelPassword: string;
}

const unique = (prefix: string) => `${prefix}-${randomBytes(3).toString("hex")}`;

/** Users with a web password, created as dtcpctl would create them. */
export class UserFactory {
  constructor(
    private readonly repo: UserRepository,
    private readonly sessions: WebSessionRepository,
  ) {}

  async create(input: Partial<NewUser> = {}): Promise<TestUser> {
    const webPassword = `pw-${randomBytes(12).toString("hex")}`;
    const { user, tunnelPassword } = await this.repo.create({ name: unique(input.role === "admin" ? "admin" : "user"), ...input }, actor, { webPassword });
    return { id: user.id, name: user.name, role: user.role, webPassword, tunnelPassword };
  }

  /** A web sign-in of the user, as the WebSession id a live token names. */
  async webSession(user: TestUser): Promise<string> {
    const { token } = await this.sessions.start(user, "playwright", "127.0.0.1");
    return hashToken(token);
  }

  /** Signs a browser context in as the user without going through the sign-in form. */
  async signIn(context: BrowserContext, user: TestUser): Promise<void> {
    const { token } = await this.sessions.start(user, "playwright", "127.0.0.1");
    await context.addCookies([{ name: "broker_session", value: token, url: process.env.E2E_BASE_URL!, httpOnly: true, sameSite: "Lax" }]);
  }
}

/** Pools in fd00::/8 with random bits, so specs never overlap each other or the UI's 2001:db8 pools. */
export class PoolFactory {
  constructor(
    private readonly repo: PoolRepository,
    private readonly allocations: AllocationRepository,
  ) {}

  create(input: Partial<NewPool> = {}) {
    const cidr = `fd${randomBytes(1).toString("hex")}:${randomBytes(2).toString("hex")}:${randomBytes(2).toString("hex")}::/48`;
    return this.repo.add({ cidr, purpose: "delegation", prefixLength: 56, ...input }, actor);
  }

  delegate(user: string, poolCidr: string) {
    return this.allocations.delegate(user, actor, poolCidr);
  }
}

/** Every row of the tables a refused change must leave alone. */
export async function snapshot(db: Db) {
  const [users, pools, delegations, audit] = await Promise.all([
    db.user.findMany({ orderBy: { id: "asc" }, omit: { tunnelPassword: true } }),
    db.pool.findMany({ orderBy: { id: "asc" } }),
    db.delegation.findMany({ orderBy: { id: "asc" } }),
    db.auditLog.findMany({ orderBy: { id: "asc" } }),
  ]);
  return { users, pools, delegations, audit };
}

interface Fixtures {
  users: UserFactory;
  pools: PoolFactory;
  storage: Storage;
  db: Db;
}

let shared: Promise<Storage> | undefined;

export const test = base.extend<Fixtures>({
  baseURL: async ({}, use) => use(process.env.E2E_BASE_URL),
  storage: async ({}, use) => {
    const paths = resolvePaths();
    await use(await (shared ??= openStorage(paths.databaseUrl, { secretKeyFile: paths.secretKeyFile })));
  },
  db: async ({ storage }, use) => use(storage.db),
  users: async ({ storage }, use) => use(new UserFactory(storage.users, storage.webSessions)),
  pools: async ({ storage }, use) => use(new PoolFactory(storage.pools, storage.allocations)),
});

export { expect };

export const screenshot = (name: string) => ({ path: `artifacts/screenshots/${name}.png`, fullPage: true });
