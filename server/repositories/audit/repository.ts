import type { Db } from "../../db/client.ts";
import { writeTransaction, type TransactionOptions, type Tx } from "../../db/transaction.ts";


/** Who acts: "cli", "dtcps", "web:<user>"; `source` is the remote address when there is one. */
export interface Actor {
  name: string;
  source?: string;
}

export interface AuditEntry {
  action: string;
  target?: string;
  before?: unknown;
  after?: unknown;
}

/** Snapshots are stored as JSON text; bigints (counters) as decimal strings. */
export function auditJson(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
}

export function writeAudit(tx: Tx | Db, actor: Actor, entry: AuditEntry): Promise<unknown> {
  return tx.auditLog.create({
    data: {
      actor: actor.name,
      source: actor.source ?? null,
      action: entry.action,
      target: entry.target ?? null,
      before: auditJson(entry.before),
      after: auditJson(entry.after),
    },
  });
}

/**
 * Runs a mutation and its audit entry in one transaction: either both are written or neither.
 * The callback returns the result plus the before/after snapshots (which must hold no secrets).
 */
export async function audited<T>(
  db: Db,
  actor: Actor,
  action: string,
  target: string,
  mutate: (tx: Tx) => Promise<{ result: T; before?: unknown; after?: unknown }>,
  options: TransactionOptions = {},
): Promise<T> {
  return writeTransaction(
    db,
    async (tx) => {
      const { result, before, after } = await mutate(tx);
      await writeAudit(tx, actor, { action, target, before, after });
      return result;
    },
    options,
  );
}

export interface AuditFilter {
  /** Actions starting with this, e.g. "user." */
  action?: string;
  /** Actors and targets containing this text. */
  actor?: string;
  target?: string;
  /** Entries at or after `from` and before `to`. */
  from?: Date;
  to?: Date;
  /** Entries older than this id: the next page after a page ending there. */
  beforeId?: number;
  limit?: number;
}

/** One entry of the audit log. */
export interface AuditRecord {
  id: number;
  at: Date;
  /** "cli", "dtcps", "web:<user>". */
  actor: string;
  action: string;
  target: string | null;
  /** The remote address, when the action came over the network. */
  source: string | null;
  /** JSON snapshots of what changed; never a password or a hash. */
  before: string | null;
  after: string | null;
}

/** The audit log as listings and the web app's own entries see it. */
export class AuditLog {
  constructor(private readonly db: Db) {}

  /** Newest first. */
  list(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    return this.db.auditLog.findMany({
      select: { id: true, at: true, actor: true, action: true, target: true, source: true, before: true, after: true },
      where: {
        ...(filter.action ? { action: { startsWith: filter.action } } : {}),
        ...(filter.actor ? { actor: { contains: filter.actor } } : {}),
        ...(filter.target ? { target: { contains: filter.target } } : {}),
        ...(filter.from || filter.to ? { at: { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lt: filter.to } : {}) } } : {}),
        ...(filter.beforeId !== undefined ? { id: { lt: filter.beforeId } } : {}),
      },
      orderBy: { id: "desc" },
      take: filter.limit ?? 100,
    });
  }

  /** Removes entries older than `cutoff`, `batch` at a time so that no write waits long; returns how many. */
  async purgeBefore(cutoff: Date, batch = PURGE_BATCH): Promise<number> {
    return purgeInBatches(batch, async (take) => {
      const ids = (await this.db.auditLog.findMany({ select: { id: true }, where: { at: { lt: cutoff } }, orderBy: { id: "asc" }, take })).map((r) => r.id);
      return ids.length === 0 ? 0 : (await this.db.auditLog.deleteMany({ where: { id: { in: ids } } })).count;
    });
  }

  /** An entry for something that changed nothing, such as a refused password check. */
  async record(actor: Actor, entry: AuditEntry): Promise<void> {
    await writeAudit(this.db, actor, entry);
  }
}

/** Rows a retention purge removes per statement. */
export const PURGE_BATCH = 2_000;

/** Runs `step` (which removes up to `take` rows and says how many) until a step removes fewer. */
export async function purgeInBatches(take: number, step: (take: number) => Promise<number>): Promise<number> {
  let total = 0;
  for (;;) {
    const removed = await step(take);
    total += removed;
    if (removed < take) return total;
    // Other writers (logins, the web app) get their turn between batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
}
