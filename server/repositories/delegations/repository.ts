import type { Db } from "../../db/client.ts";
import type { Pool } from "../../db/generated/client.ts";
import { firstFreeSubprefix, linkPair } from "../../net/allocation.ts";
import { formatIpv6 } from "../../net/ipv6.ts";
import { formatPrefix6, parsePrefix6 } from "../../net/prefix.ts";
import type { Tx } from "../../db/transaction.ts";
import { audited, type Actor } from "../audit/repository.ts";
import { DomainError, prefixField } from "../../domain/errors.ts";
import { isUniqueViolation } from "../errors.ts";

/** A host tunnel's address pair: the block it is cut from and its two ends. */
export interface LinkPairView {
  id: number;
  block: string;
  clientAddress: string;
  serverAddress: string;
}
const LINK_PAIR_VIEW = { id: true, block: true, clientAddress: true, serverAddress: true } as const;

/** A prefix delegated to a user, routed to them while their network tunnel is up. */
export interface DelegationView {
  id: number;
  prefix: string;
  userName: string;
  /** The pool it was cut from (CIDR). */
  pool: string;
  createdAt: Date;
}
const DELEGATION_VIEW = { id: true, prefix: true, createdAt: true, user: { select: { name: true } }, pool: { select: { cidr: true } } } as const;

function delegationView(row: { id: number; prefix: string; createdAt: Date; user: { name: string }; pool: { cidr: string } }): DelegationView {
  return { id: row.id, prefix: row.prefix, createdAt: row.createdAt, userName: row.user.name, pool: row.pool.cidr };
}

/** Every pool that could serve is full: the DTCP reply is "tunnel interface sold out". */
export class SoldOutError extends DomainError {}

/** Nothing is configured that could serve the request (no pool, no delegation). */
export class NotProvisionedError extends DomainError {}

// Allocations run one at a time (on PostgreSQL under an advisory lock; SQLite's write lock does it
// anyway), so that many allocators at once do not all read the same free prefix. Should another
// writer still take it between our read and our insert, the unique index refuses the second insert
// and we try again with a fresh view.
export const ALLOCATION = { exclusive: "allocation" };
const ALLOCATION_ATTEMPTS = 5;

async function withRetry<T>(allocate: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await allocate();
    } catch (err) {
      if (!isUniqueViolation(err) || attempt >= ALLOCATION_ATTEMPTS) throw err;
    }
  }
}

function nextFree(pool: Pool, taken: string[]) {
  return firstFreeSubprefix(parsePrefix6(pool.cidr), pool.prefixLength, taken.map(parsePrefix6));
}

/**
 * What live sessions use, as prefixes: it is not handed out again while they run, even when the
 * delegation or link pair behind it is gone (its user removed, say, until the daemon ends the session).
 */
async function heldByLiveSessions(tx: Tx): Promise<string[]> {
  const live = await tx.session.findMany({ where: { endedAt: null }, select: { prefix: true, clientIpv6: true, serverIpv6: true } });
  return live.flatMap((s) => [s.prefix, s.clientIpv6 && `${s.clientIpv6}/128`, s.serverIpv6 && `${s.serverIpv6}/128`].filter((p): p is string => !!p));
}

/** The POP a user is homed on: allocations for them come from its pools only. */
async function popOf(tx: Tx, userId: number): Promise<number> {
  const user = await tx.user.findUnique({ where: { id: userId }, select: { popId: true } });
  if (!user) throw new DomainError("the user was removed meanwhile", "user");
  return user.popId;
}

async function allocateDelegation(tx: Tx, userId: number, pools: Pool[]): Promise<DelegationView | null> {
  const held = await heldByLiveSessions(tx);
  for (const pool of pools) {
    const taken = await tx.delegation.findMany({ where: { poolId: pool.id }, select: { prefix: true } });
    const prefix = nextFree(pool, [...taken.map((t) => t.prefix), ...held]);
    if (prefix) return delegationView(await tx.delegation.create({ data: { prefix: formatPrefix6(prefix), poolId: pool.id, userId }, select: DELEGATION_VIEW }));
  }
  return null;
}

async function allocateLinkPair(tx: Tx, userId: number, pools: Pool[]): Promise<LinkPairView | null> {
  const held = await heldByLiveSessions(tx);
  for (const pool of pools) {
    const taken = await tx.linkPair.findMany({ where: { poolId: pool.id }, select: { block: true } });
    const block = nextFree(pool, [...taken.map((t) => t.block), ...held]);
    if (!block) continue;
    const pair = linkPair(block);
    return tx.linkPair.create({
      data: { block: formatPrefix6(block), clientAddress: formatIpv6(pair.client), serverAddress: formatIpv6(pair.server), poolId: pool.id, userId },
      select: LINK_PAIR_VIEW,
    });
  }
  return null;
}

/** What a user holds, for audit entries: their POP's name, prefixes and link block. */
export interface Holdings {
  pop: string;
  prefixes: string[];
  linkBlock: string | null;
}

/**
 * Moves a user's allocations to another POP inside the caller's transaction: every delegation and
 * the link pair are released and as many are taken from the new POP's pools (a delegation of the
 * same size where there is one). Refused, changing nothing, when the new POP cannot give every
 * delegation back; a link pair the new POP has no link pool for is left to be allocated on first use.
 */
export async function moveAllocations(tx: Tx, userId: number, from: string, to: { id: number; name: string }): Promise<{ before: Holdings; after: Holdings }> {
  const delegations = await tx.delegation.findMany({ where: { userId }, include: { pool: true }, orderBy: { id: "asc" } });
  const pair = await tx.linkPair.findUnique({ where: { userId } });
  await tx.delegation.deleteMany({ where: { userId } });
  await tx.linkPair.deleteMany({ where: { userId } });
  const pools = await tx.pool.findMany({ where: { popId: to.id }, orderBy: { id: "asc" } });
  const prefixes: string[] = [];
  for (const old of delegations) {
    const delegationPools = pools.filter((p) => p.purpose === "delegation");
    const sameSize = delegationPools.filter((p) => p.prefixLength === old.pool.prefixLength);
    const taken = await allocateDelegation(tx, userId, [...sameSize, ...delegationPools.filter((p) => !sameSize.includes(p))]);
    if (!taken) throw new SoldOutError(`the POP ${to.name} has no delegation pool with room for ${old.prefix}'s replacement`, "pop");
    prefixes.push(taken.prefix);
  }
  const newPair = pair ? await allocateLinkPair(tx, userId, pools.filter((p) => p.purpose === "link")) : null;
  return {
    before: { pop: from, prefixes: delegations.map((d) => d.prefix), linkBlock: pair?.block ?? null },
    after: { pop: to.name, prefixes, linkBlock: newPair?.block ?? null },
  };
}

export class AllocationRepository {
  constructor(private readonly db: Db) {}

  /** Hands the next free prefix of a delegation pool (the given one, else the first with room) to a user. */
  async delegate(userName: string, actor: Actor, poolCidr?: string): Promise<DelegationView> {
    const user = await this.requireUser(userName);
    return withRetry(() =>
      audited(this.db, actor, "delegation.create", userName, async (tx) => {
        const pools = await this.candidatePools(tx, await popOf(tx, user.id), poolCidr);
        const delegation = await allocateDelegation(tx, user.id, pools);
        if (!delegation) throw new SoldOutError(poolCidr ? `the pool ${pools[0]?.cidr} is full` : "every delegation pool is full", "pool");
        return { result: delegation, after: { user: userName, prefix: delegation.prefix } };
      }, ALLOCATION),
    );
  }

  async release(userName: string, prefixText: string, actor: Actor): Promise<void> {
    const user = await this.requireUser(userName);
    const prefix = formatPrefix6(prefixField(prefixText, "prefix"));
    await audited(this.db, actor, "delegation.release", userName, async (tx) => {
      const found = await tx.delegation.findUnique({ where: { prefix } });
      if (!found || found.userId !== user.id) throw new DomainError(`${userName} does not hold ${prefix}`, "prefix");
      await tx.delegation.delete({ where: { id: found.id } });
      return { result: undefined, before: { user: userName, prefix } };
    });
  }

  /** Every delegation (of one user), oldest first. */
  async list(userName?: string): Promise<DelegationView[]> {
    const rows = await this.db.delegation.findMany({ where: userName ? { user: { name: userName } } : {}, select: DELEGATION_VIEW, orderBy: { id: "asc" } });
    return rows.map(delegationView);
  }

  /** The user's routed prefix for a network tunnel: the oldest delegation, else one from an auto-delegate pool. */
  async delegationForLogin(userId: number, userName: string, actor: Actor): Promise<DelegationView> {
    const existing = await this.db.delegation.findFirst({ where: { userId }, select: DELEGATION_VIEW, orderBy: { id: "asc" } });
    if (existing) return delegationView(existing);
    return withRetry(() =>
      audited(this.db, actor, "delegation.create", userName, async (tx) => {
        const pools = await tx.pool.findMany({ where: { purpose: "delegation", autoDelegate: true, popId: await popOf(tx, userId) }, orderBy: { id: "asc" } });
        if (pools.length === 0) throw new NotProvisionedError(`no prefix is delegated to ${userName}`);
        const delegation = await allocateDelegation(tx, userId, pools);
        if (!delegation) throw new SoldOutError("every auto-delegate pool is full");
        return { result: delegation, after: { user: userName, prefix: delegation.prefix, auto: true } };
      }, ALLOCATION),
    );
  }

  /** The user's address pair for host tunnels, if one was allocated. */
  linkPair(userId: number): Promise<LinkPairView | null> {
    return this.db.linkPair.findUnique({ where: { userId }, select: LINK_PAIR_VIEW });
  }

  /** Every allocated link pair with its user's name, oldest first. */
  async linkPairs(): Promise<(LinkPairView & { userName: string })[]> {
    const rows = await this.db.linkPair.findMany({ select: { ...LINK_PAIR_VIEW, user: { select: { name: true } } }, orderBy: { id: "asc" } });
    return rows.map(({ user, ...pair }) => ({ ...pair, userName: user.name }));
  }

  /** The user's stable address pair for host tunnels, allocated from a link pool on first use. */
  async linkPairForLogin(userId: number, userName: string, actor: Actor): Promise<LinkPairView> {
    const existing = await this.db.linkPair.findUnique({ where: { userId }, select: LINK_PAIR_VIEW });
    if (existing) return existing;
    return withRetry(() =>
      audited(this.db, actor, "link-pair.create", userName, async (tx) => {
        const pools = await tx.pool.findMany({ where: { purpose: "link", popId: await popOf(tx, userId) }, orderBy: { id: "asc" } });
        if (pools.length === 0) throw new NotProvisionedError("no link pool is configured for host tunnels");
        const created = await allocateLinkPair(tx, userId, pools);
        if (created) return { result: created, after: { user: userName, block: created.block } };
        throw new SoldOutError("every link pool is full");
      }, ALLOCATION),
    );
  }

  private async candidatePools(tx: Tx, popId: number, poolCidr?: string): Promise<Pool[]> {
    if (poolCidr === undefined) {
      const pools = await tx.pool.findMany({ where: { purpose: "delegation", popId }, orderBy: { id: "asc" } });
      if (pools.length === 0) throw new NotProvisionedError("the user's POP has no delegation pool; add one first", "pool");
      return pools;
    }
    const cidr = formatPrefix6(prefixField(poolCidr, "pool"));
    const pool = await tx.pool.findUnique({ where: { cidr }, include: { pop: { select: { name: true } } } });
    if (!pool || pool.purpose !== "delegation") throw new DomainError(`no delegation pool ${cidr}`, "pool");
    if (pool.popId !== popId) throw new DomainError(`the pool ${cidr} belongs to the POP ${pool.pop.name}, not the user's`, "pool");
    return [pool];
  }

  private async requireUser(name: string) {
    const user = await this.db.user.findUnique({ where: { name } });
    if (!user) throw new DomainError(`no user named ${name}`, "user");
    return user;
  }
}
