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
    text: `SELECT u.id, u.name, u."popId", u."tunnelPassword", u.disabled, u."allowedTypes", u."allowedTransports", u.mtu,
                  l."clientAddress", l."serverAddress",
                  (SELECT d.prefix FROM "Delegation" d WHERE d."userId" = u.id ORDER BY d.id LIMIT 1) AS delegation
           FROM "User" u LEFT JOIN "LinkPair" l ON l."userId" = u.id
           WHERE u.name = $1`,
  },
  credentials: { name: "login-credentials", text: `SELECT id, disabled, "popId", "tunnelPassword" FROM "User" WHERE id = ANY($1::int[])` },
  poolsStamp: { name: "login-pools-stamp", text: `SELECT count(*)::int AS n, max(id) AS top FROM "Pool"` },
  usersStamp: { name: "login-users-stamp", text: `SELECT count(*)::int AS n, max("updatedAt")::text AS latest FROM "User"` },
  // A batch of starts, ends or counters is one statement over arrays, whatever its size: a round
  // trip per row would cap logins near a thousand a second. Ids are drawn first, so that each start
  // knows its row's.
  sessionIds: { name: "login-session-ids", text: `SELECT nextval(pg_get_serial_sequence('"Session"', 'id'))::int AS id FROM generate_series(1, $1::int)` },
  insertSessions: {
    name: "login-insert-sessions",
    text: `INSERT INTO "Session" (id, "userId", "userName", type, transport, "clientIpv4", "serverIpv4", "clientUdpPort", "serverUdpPort",
                                 "clientIpv6", "serverIpv6", prefix, "startedAt", "popId")
           SELECT u.*, $13::timestamp(3), $14::int
           FROM unnest($1::int[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::int[],
                       $10::text[], $11::text[], $12::text[]) AS u`,
  },
  endSessions: {
    name: "login-end-sessions",
    text: `UPDATE "Session" s SET "endedAt" = u.at, "endReason" = u.reason,
             "bytesIn" = COALESCE(u.bi, s."bytesIn"), "bytesOut" = COALESCE(u.bo, s."bytesOut"),
             "packetsIn" = COALESCE(u.pi, s."packetsIn"), "packetsOut" = COALESCE(u.po, s."packetsOut")
           FROM unnest($1::int[], $2::timestamp(3)[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[]) AS u(id, at, reason, bi, bo, pi, po)
           WHERE s.id = u.id AND s."endedAt" IS NULL`,
  },
  recordCounters: {
    name: "login-record-counters",
    text: `UPDATE "Session" s SET "bytesIn" = u.bi, "bytesOut" = u.bo, "packetsIn" = u.pi, "packetsOut" = u.po
           FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS u(id, bi, bo, pi, po)
           WHERE s.id = u.id AND s."endedAt" IS NULL`,
  },
  endOpen: {
    name: "login-end-open",
    text: `UPDATE "Session" SET "endedAt" = GREATEST("startedAt", COALESCE((SELECT "heartbeatAt" FROM "Pop" WHERE id = $3), $1::timestamp(3))), "endReason" = $2
           WHERE "endedAt" IS NULL AND "popId" = $3`,
  },
  openIds: { name: "login-open-ids", text: `SELECT id FROM "Session" WHERE "endedAt" IS NULL AND "popId" = $1` },
  // The database's clock, not the daemon's: POPs on several hosts then agree on who fell silent.
  heartbeat: { name: "login-heartbeat", text: `UPDATE "Pop" SET "heartbeatAt" = now() AT TIME ZONE 'UTC' WHERE id = $1` },
  endLost: {
    name: "login-end-lost",
    text: `UPDATE "Session" s SET "endedAt" = GREATEST(s."startedAt", COALESCE(p."heartbeatAt", $1::timestamp(3))), "endReason" = 'pop-lost'
           FROM "Pop" p
           WHERE s."endedAt" IS NULL AND s."popId" = p.id AND p.id <> $2
             AND (p."heartbeatAt" IS NULL OR p."heartbeatAt" < now() AT TIME ZONE 'UTC' - make_interval(secs => $3::double precision))`,
  },
  insertAudit: {
    name: "login-insert-audit",
    text: `INSERT INTO "AuditLog" (at, actor, source, action, target, before, after) VALUES ($1::timestamp(3), $2, $3, $4, $5, $6, $7)`,
  },
} as const;

type UserRow = Omit<LoginRecord, "linkPair"> & { clientAddress: string | null; serverAddress: string | null };

export function openPostgresLoginStore(connectionString: string, popId: number): LoginStore {
  const pool = new pg.Pool({ connectionString, max: POOL_SIZE });
  // An idle connection that fails (a server restart) is replaced at the next query; without a
  // listener the pool's error event would end the process.
  pool.on("error", () => {});

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
      const { rows } = await pool.query<{ id: number; disabled: boolean; popId: number; tunnelPassword: Buffer }>({ ...Q.credentials, values: [userIds] });
      for (const row of rows) found.set(row.id, { disabled: row.disabled, popId: row.popId, tunnelPassword: row.tunnelPassword });
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
      const ids = (await pool.query<{ id: number }>({ ...Q.sessionIds, values: [starts.length] })).rows.map((r) => r.id);
      const column = <K extends keyof (typeof starts)[number]>(key: K) => starts.map((s) => s[key]);
      await pool.query({
        ...Q.insertSessions,
        values: [
          ids,
          column("userId"),
          column("userName"),
          column("type"),
          column("transport"),
          column("clientIpv4"),
          column("serverIpv4"),
          column("clientUdpPort"),
          column("serverUdpPort"),
          column("clientIpv6"),
          column("serverIpv6"),
          column("prefix"),
          utc(at),
          popId,
        ],
      });
      return ids;
    },
    async endSessions(ends) {
      if (ends.length === 0) return;
      // No final figures (no data plane): keep what was recorded while it ran.
      const figure = (pick: (c: NonNullable<(typeof ends)[number]["counters"]>) => bigint) => ends.map((e) => (e.counters ? pick(e.counters).toString() : null));
      await pool.query({
        ...Q.endSessions,
        values: [ends.map((e) => e.id), ends.map((e) => utc(e.at)), ends.map((e) => e.reason), figure((c) => c.bytesIn), figure((c) => c.bytesOut), figure((c) => c.packetsIn), figure((c) => c.packetsOut)],
      });
    },
    async recordTraffic(rows) {
      if (rows.length === 0) return;
      const figure = (pick: (c: (typeof rows)[number]["counters"]) => bigint) => rows.map((r) => pick(r.counters).toString());
      await pool.query({
        ...Q.recordCounters,
        values: [rows.map((r) => r.id), figure((c) => c.bytesIn), figure((c) => c.bytesOut), figure((c) => c.packetsIn), figure((c) => c.packetsOut)],
      });
    },
    async endAllOpen(reason, at) {
      return (await pool.query({ ...Q.endOpen, values: [utc(at), reason, popId] })).rowCount ?? 0;
    },
    async openSessionIds() {
      return (await pool.query<{ id: number }>({ ...Q.openIds, values: [popId] })).rows.map((r) => r.id);
    },
    async heartbeat() {
      await pool.query({ ...Q.heartbeat, values: [popId] });
    },
    async endLostPops(silentMs, at) {
      return (await pool.query({ ...Q.endLost, values: [utc(at), popId, silentMs / 1000] })).rowCount ?? 0;
    },
    async audit(actor, entry, at) {
      await pool.query({ ...Q.insertAudit, values: [utc(at), actor.name, actor.source ?? null, entry.action, entry.target ?? null, auditJson(entry.before), auditJson(entry.after)] });
    },
    close: () => pool.end(),
  };
}
