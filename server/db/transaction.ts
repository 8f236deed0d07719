import type { Db } from "./client.ts";
import type { Prisma } from "./generated/client.ts";

export type Tx = Prisma.TransactionClient;

// The SQLite adapter opens transactions with a deferred BEGIN. Two processes (daemon, CLI, web app)
// that both read and then write would deadlock on the upgrade to a write lock, so a no-op write
// takes the lock first: later writers then wait their turn (busy timeout) instead of failing.
const TAKE_WRITE_LOCK = 'UPDATE "AuditLog" SET "id" = "id" WHERE 0';

/** An interactive transaction that holds the database's write lock from its first statement. */
export function writeTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
  return db.$transaction(
    async (tx) => {
      await tx.$executeRawUnsafe(TAKE_WRITE_LOCK);
      return work(tx);
    },
    { maxWait: 15_000, timeout: 30_000 },
  );
}
