// Moves a broker's data from one storage to another (SQLite to PostgreSQL, typically): every row of
// every table with its id, sealed secrets as they are (the same sealing key opens them), then the
// id sequences moved past the copied rows, and the counts compared.
import type { Db } from "../db/client.ts";
import { DomainError } from "../domain/errors.ts";

/** Parents before children, so that every foreign key finds its row. */
const TABLES = ["user", "pool", "delegation", "linkPair", "session", "auditLog", "webSession", "recoveryCode", "setting", "setupToken"] as const;
type Table = (typeof TABLES)[number];
/** The tables whose ids come from a sequence (the others have text keys). */
const SERIAL: Partial<Record<Table, string>> = {
  user: "User",
  pool: "Pool",
  delegation: "Delegation",
  linkPair: "LinkPair",
  session: "Session",
  auditLog: "AuditLog",
  recoveryCode: "RecoveryCode",
};
const PAGE = 2_000;

type Delegate = {
  count(): Promise<number>;
  findMany(args: { take: number; skip: number; orderBy: Record<string, "asc"> }): Promise<Record<string, unknown>[]>;
  createMany(args: { data: Record<string, unknown>[] }): Promise<unknown>;
};
const table = (db: Db, name: Table) => (db as unknown as Record<Table, Delegate>)[name];
const KEY: Record<Table, string> = { webSession: "id", setting: "key", setupToken: "id" } as Record<Table, string>;

export interface CopyReport {
  /** Rows per table, as counted in both databases after the copy. */
  counts: Record<Table, number>;
}

/**
 * Copies everything in `from` into `to`, whose tables must be empty (a database just created by
 * opening it). Refuses to copy into a database that holds anything, so nothing is ever merged.
 */
export async function copyStorage(from: Db, to: Db, postgresTarget: boolean, progress: (line: string) => void = () => {}): Promise<CopyReport> {
  for (const name of TABLES) {
    const n = await table(to, name).count();
    if (n > 0) throw new DomainError(`the target database is not empty (${n} rows in ${name}): copy into a new, empty database`);
  }
  const counts = {} as Record<Table, number>;
  for (const name of TABLES) {
    const source = table(from, name);
    const total = await source.count();
    const orderBy = { [KEY[name] ?? "id"]: "asc" as const };
    for (let skip = 0; skip < total; skip += PAGE) {
      const rows = await source.findMany({ take: PAGE, skip, orderBy });
      await table(to, name).createMany({ data: rows });
    }
    const copied = await table(to, name).count();
    if (copied !== total) throw new Error(`${name}: ${total} rows in the source, ${copied} in the target after the copy`);
    counts[name] = total;
    progress(`${name}: ${total} rows`);
  }
  if (postgresTarget) {
    // Rows were inserted with their ids: the next id each sequence hands out must come after them.
    for (const relation of Object.values(SERIAL)) {
      await to.$queryRawUnsafe(`SELECT setval(pg_get_serial_sequence('"${relation}"', 'id'), COALESCE((SELECT max(id) FROM "${relation}"), 0) + 1, false)::text`);
    }
  }
  return { counts };
}
