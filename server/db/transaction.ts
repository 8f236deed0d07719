import type { Db } from "./client.ts";
import type { Prisma } from "./generated/client.ts";

export type Tx = Prisma.TransactionClient;

// The SQLite adapter opens transactions with a deferred BEGIN. Two processes (daemon, CLI, web app)
// that both read and then write would deadlock on the upgrade to a write lock, so a no-op write
// takes the lock first: later writers then wait their turn (busy timeout) instead of failing.
// PostgreSQL locks rows, not the database: there the unique constraints and the callers' retries
// on a violation keep concurrent writers apart, and nothing is taken up front.
const TAKE_WRITE_LOCK = 'UPDATE "AuditLog" SET "id" = "id" WHERE 0';

const postgresClients = new WeakSet<Db>();

/** Marks a client as PostgreSQL's (the storage opener does): its transactions take no SQLite lock. */
export function servedByPostgres(db: Db): void {
  postgresClients.add(db);
}

export interface TransactionOptions {
  /**
   * Transactions naming the same key run one at a time, across processes: for a read of what is
   * free followed by a write that takes it (allocation), where retrying on a unique violation alone
   * would starve under many concurrent allocators. On PostgreSQL a transaction-scoped advisory lock;
   * on SQLite the write lock every transaction takes already does it.
   */
  exclusive?: string;
}

/** An interactive transaction that, on SQLite, holds the database's write lock from its first statement. */
export function writeTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const postgres = postgresClients.has(db);
  return db.$transaction(
    async (tx) => {
      if (!postgres) await tx.$executeRawUnsafe(TAKE_WRITE_LOCK);
      else if (options.exclusive !== undefined) await tx.$queryRawUnsafe("SELECT pg_advisory_xact_lock(hashtext($1))::text", options.exclusive);
      return work(tx);
    },
    { maxWait: 15_000, timeout: 30_000 },
  );
}
