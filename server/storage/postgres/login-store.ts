// The login path's statements on PostgreSQL (see LoginStore): a small pool of connections of its
// own, each statement prepared once per connection by name.
import pg from "pg";
import type { LoginRecord, LoginStore, UserCredential } from "../../db/login-store.ts";
import { auditJson } from "../../repositories/audit/repository.ts";

// Prisma keeps DateTime in `timestamp(3)` columns as UTC wall time; an ISO string cast to that type
// drops its "Z", so this is what is written, whatever the process's time zone.
const utc = (d: Date) => d.toISOString();

/** Enough for a burst of logins and the daemon's periodic writes; more would only queue in PostgreSQL. */
const POOL_SIZE = 4;

const Q = {
  user: {
    name: "login-user",
    text: `SELECT u.id, u.name, u."tunnelPassword", u.disabled, u."allowedTypes", u."allowedTransports", u.mtu,
                  l."clientAddress", l."serverAddress",
                  (SELECT d.prefix FROM "Delegation" d WHERE d."userId" = u.id ORDER BY d.id LIMIT 1) AS delegation
           FROM "User" u LEFT JOIN "LinkPair" l ON l."userId" = u.id
           WHERE u.name = $1`,
  },
  credentials: { name: "login-credentials", text: `SELECT id, disabled, "tunnelPassword" FROM "User" WHERE id = ANY($1::int[])` },
  poolsStamp: { name: "login-pools-stamp", text: `SELECT count(*)::int AS n, max(id) AS top FROM "Pool"` },
  usersStamp: { name: "login-users-stamp", text: `SELECT count(*)::int AS n, max("updatedAt")::text AS latest FROM "User"` },
  insertSession: {
    name: "login-insert-session",
    text: `INSERT INTO "Session" ("userId", "userName", type, transport, "clientIpv4", "serverIpv4", "clientUdpPort", "serverUdpPort",
                                 "clientIpv6", "serverIpv6", prefix, "startedAt")
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::timestamp(3)) RETURNING id`,
  },
  endSession: {
    name: "login-end-session",
    text: `UPDATE "Session" SET "endedAt" = $2::timestamp(3), "endReason" = $3,
             "bytesIn" = COALESCE($4::bigint, "bytesIn"), "bytesOut" = COALESCE($5::bigint, "bytesOut"),
             "packetsIn" = COALESCE($6::bigint, "packetsIn"), "packetsOut" = COALESCE($7::bigint, "packetsOut")
           WHERE id = $1 AND "endedAt" IS NULL`,
  },
  recordCounters: {
    name: "login-record-counters",
    text: `UPDATE "Session" SET "bytesIn" = $2::bigint, "bytesOut" = $3::bigint, "packetsIn" = $4::bigint, "packetsOut" = $5::bigint
           WHERE id = $1 AND "endedAt" IS NULL`,
  },
  endOpen: { name: "login-end-open", text: `UPDATE "Session" SET "endedAt" = $1::timestamp(3), "endReason" = $2 WHERE "endedAt" IS NULL` },
  insertAudit: {
    name: "login-insert-audit",
    text: `INSERT INTO "AuditLog" (at, actor, source, action, target, before, after) VALUES ($1::timestamp(3), $2, $3, $4, $5, $6, $7)`,
  },
} as const;

type UserRow = Omit<LoginRecord, "linkPair"> & { clientAddress: string | null; serverAddress: string | null };

export function openPostgresLoginStore(connectionString: string): LoginStore {
  const pool = new pg.Pool({ connectionString, max: POOL_SIZE });
  // An idle connection that fails (a server restart) is replaced at the next query; without a
  // listener the pool's error event would end the process.
  pool.on("error", () => {});

  /** Runs the statements in one transaction on one connection. */
  const transaction = async <T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  };

  return {
    async loginRecord(name) {
      const { rows } = await pool.query<UserRow>({ ...Q.user, values: [name] });
      const row = rows[0];
      if (!row) return null;
      const { clientAddress, serverAddress, ...rest } = row;
      return { ...rest, linkPair: clientAddress !== null && serverAddress !== null ? { clientAddress, serverAddress } : null };
    },
    async credentials(userIds) {
      const found = new Map<number, UserCredential>();
      if (userIds.length === 0) return found;
      const { rows } = await pool.query<{ id: number; disabled: boolean; tunnelPassword: Buffer }>({ ...Q.credentials, values: [userIds] });
      for (const row of rows) found.set(row.id, { disabled: row.disabled, tunnelPassword: row.tunnelPassword });
      return found;
    },
    async poolsStamp() {
      const { rows } = await pool.query<{ n: number; top: number | null }>(Q.poolsStamp);
      return `${rows[0]!.n} ${rows[0]!.top ?? 0}`;
    },
    async usersStamp() {
      const { rows } = await pool.query<{ n: number; latest: string | null }>(Q.usersStamp);
      return `${rows[0]!.n} ${rows[0]!.latest ?? ""}`;
    },
    async startSessions(starts, at) {
      if (starts.length === 0) return [];
      return transaction(async (client) => {
        const ids: number[] = [];
        for (const s of starts) {
          const values = [s.userId, s.userName, s.type, s.transport, s.clientIpv4, s.serverIpv4, s.clientUdpPort, s.serverUdpPort, s.clientIpv6, s.serverIpv6, s.prefix, utc(at)];
          const { rows } = await client.query<{ id: number }>({ ...Q.insertSession, values });
          ids.push(rows[0]!.id);
        }
        return ids;
      });
    },
    async endSessions(ends, at) {
      if (ends.length === 0) return;
      await transaction(async (client) => {
        for (const e of ends) {
          const c = e.counters;
          // No final figures (no data plane): keep what was recorded while it ran.
          const values = [e.id, utc(at), e.reason, c?.bytesIn.toString() ?? null, c?.bytesOut.toString() ?? null, c?.packetsIn.toString() ?? null, c?.packetsOut.toString() ?? null];
          await client.query({ ...Q.endSession, values });
        }
      });
    },
    async recordTraffic(rows) {
      if (rows.length === 0) return;
      await transaction(async (client) => {
        for (const { id, counters: c } of rows) {
          await client.query({ ...Q.recordCounters, values: [id, c.bytesIn.toString(), c.bytesOut.toString(), c.packetsIn.toString(), c.packetsOut.toString()] });
        }
      });
    },
    async endAllOpen(reason, at) {
      return (await pool.query({ ...Q.endOpen, values: [utc(at), reason] })).rowCount ?? 0;
    },
    async audit(actor, entry, at) {
      await pool.query({ ...Q.insertAudit, values: [utc(at), actor.name, actor.source ?? null, entry.action, entry.target ?? null, auditJson(entry.before), auditJson(entry.after)] });
    },
    close: () => pool.end(),
  };
}
