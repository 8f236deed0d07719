import Database from "better-sqlite3";
import type { EndReason, SessionEnd, SessionStart, TrafficCounters } from "../domain/types.ts";
import type { Actor, AuditEntry } from "../repositories/audit/repository.ts";
import { auditJson } from "../repositories/audit/repository.ts";
import { sqliteFile } from "./client.ts";

/** What a DTCP login needs to know about a user. */
export interface LoginRecord {
  id: number;
  name: string;
  /** The POP that serves the user: other POPs' daemons refuse them. */
  popId: number;
  tunnelPassword: Uint8Array;
  disabled: boolean;
  allowedTypes: string;
  allowedTransports: string;
  mtu: number;
  linkPair: { clientAddress: string; serverAddress: string } | null;
  /** The user's oldest delegation, CIDR. */
  delegation: string | null;
}

/** A user's standing for DTCP as stored now. */
export interface UserCredential {
  disabled: boolean;
  /** The POP that serves the user now: another one than the session's means they were moved. */
  popId: number;
  /** The sealed DTCP password: a different value means it was changed. */
  tunnelPassword: Uint8Array;
}

/**
 * The database work on the DTCP login path: user lookup, session rows, failed-login audit entries.
 * An ORM query costs about a millisecond, which would cap logins near 400/s on a small machine;
 * these few statements run on a connection of their own, prepared once. Everything else
 * (administration, allocation, listings) stays in the repositories. Each engine has its own.
 * A store belongs to one POP's daemon: the sessions it starts and ends are that POP's.
 */
export interface LoginStore {
  loginRecord(name: string): Promise<LoginRecord | null>;
  /** What decides whether these users' live sessions may go on; a user missing from the map was removed. */
  credentials(userIds: readonly number[]): Promise<Map<number, UserCredential>>;
  /**
   * Changes whenever a user is added, changed or removed (their count and latest update time):
   * while it stays the same, no live session's user can have been removed, disabled or re-keyed.
   */
  usersStamp(): Promise<string>;
  /** Changes whenever a pool is added or removed (their count and highest id). */
  poolsStamp(): Promise<string>;
  /** Inserts the rows in one transaction and returns their ids in order. */
  startSessions(starts: readonly SessionStart[], at: Date): Promise<number[]>;
  endSessions(ends: readonly SessionEnd[]): Promise<void>;
  /** Writes the counters so far of sessions still open, in one transaction. */
  recordTraffic(rows: readonly { id: number; counters: TrafficCounters }[]): Promise<void>;
  /**
   * Ends every session of this POP left open (by a crash or a kill) at the POP's last heartbeat,
   * its last sign of life (`at` if it never beat, a session's start if that is later); returns how
   * many. Called before this run's first heartbeat.
   */
  endAllOpen(reason: EndReason, at: Date): Promise<number>;
  /** The ids of this POP's sessions whose rows are open. */
  openSessionIds(): Promise<number[]>;
  /** Records that this POP's daemon is alive. */
  heartbeat(): Promise<void>;
  /**
   * Ends (`pop-lost`) the open sessions of every other POP whose daemon has given no sign of life
   * for `silentMs`: it died, and its sessions with it. Returns how many.
   */
  endLostPops(silentMs: number, at: Date): Promise<number>;
  audit(actor: Actor, entry: AuditEntry, at: Date): Promise<void>;
  close(): Promise<void>;
}

/** A write that met another writer's lock: try again a little later rather than block the event loop. */
export function isBusy(err: unknown): boolean {
  return (err as { code?: string }).code === "SQLITE_BUSY";
}

// Prisma's SQLite adapter stores DateTime as ISO text with an explicit offset; we write the same.
const sqlDate = (d: Date) => d.toISOString().replace("Z", "+00:00");

export function openLoginStore(databaseUrl: string, popId: number): LoginStore {
  const db = new Database(sqliteFile(databaseUrl));
  // better-sqlite3 waits synchronously: a long wait would freeze every connection of the daemon,
  // and a Prisma transaction of this very process could never release the lock meanwhile.
  db.pragma("busy_timeout = 20");
  db.pragma("synchronous = NORMAL");
  db.defaultSafeIntegers(false);

  const user = db.prepare<[string], Omit<LoginRecord, "linkPair" | "delegation" | "disabled"> & { disabled: number; clientAddress: string | null; serverAddress: string | null; delegation: string | null }>(`
    SELECT u.id, u.name, u.popId, u.tunnelPassword, u.disabled, u.allowedTypes, u.allowedTransports, u.mtu,
           l.clientAddress, l.serverAddress,
           (SELECT d.prefix FROM "Delegation" d WHERE d.userId = u.id ORDER BY d.id LIMIT 1) AS delegation
    FROM "User" u LEFT JOIN "LinkPair" l ON l.userId = u.id
    WHERE u.name = ?`);
  const credentials = db.prepare<[string], { id: number; disabled: number; popId: number; tunnelPassword: Uint8Array }>(
    `SELECT id, disabled, popId, tunnelPassword FROM "User" WHERE id IN (SELECT value FROM json_each(?))`,
  );
  const poolsStamp = db.prepare<[], { n: number; top: number | null }>(`SELECT count(*) AS n, max(id) AS top FROM "Pool"`);
  const usersStamp = db.prepare<[], { n: number; latest: string | null }>(`SELECT count(*) AS n, max(updatedAt) AS latest FROM "User"`);
  const insertSession = db.prepare(`
    INSERT INTO "Session" (popId, userId, userName, type, transport, clientIpv4, serverIpv4, clientUdpPort, serverUdpPort,
                           clientIpv6, serverIpv6, prefix, startedAt)
    VALUES (@popId, @userId, @userName, @type, @transport, @clientIpv4, @serverIpv4, @clientUdpPort, @serverUdpPort,
            @clientIpv6, @serverIpv6, @prefix, @startedAt)`);
  const endSession = db.prepare(`
    UPDATE "Session" SET endedAt = @endedAt, endReason = @reason,
      bytesIn = COALESCE(@bytesIn, bytesIn), bytesOut = COALESCE(@bytesOut, bytesOut),
      packetsIn = COALESCE(@packetsIn, packetsIn), packetsOut = COALESCE(@packetsOut, packetsOut)
    WHERE id = @id AND endedAt IS NULL`);
  const recordCounters = db.prepare(`
    UPDATE "Session" SET bytesIn = @bytesIn, bytesOut = @bytesOut, packetsIn = @packetsIn, packetsOut = @packetsOut
    WHERE id = @id AND endedAt IS NULL`);
  // Dates are ISO text of one format, so MAX compares them as times.
  const endOpen = db.prepare(`
    UPDATE "Session" SET endedAt = MAX(startedAt, COALESCE((SELECT heartbeatAt FROM "Pop" WHERE id = @popId), @at)), endReason = @reason
    WHERE endedAt IS NULL AND popId = @popId`);
  const openIds = db.prepare<[number], { id: number }>(`SELECT id FROM "Session" WHERE endedAt IS NULL AND popId = ?`);
  const heartbeat = db.prepare(`UPDATE "Pop" SET heartbeatAt = ? WHERE id = ?`);
  const endLost = db.prepare(`
    UPDATE "Session" SET endedAt = MAX(startedAt, COALESCE((SELECT heartbeatAt FROM "Pop" p WHERE p.id = "Session".popId), @at)), endReason = 'pop-lost'
    WHERE endedAt IS NULL AND popId IN (SELECT id FROM "Pop" WHERE id <> @popId AND (heartbeatAt IS NULL OR heartbeatAt < @silentSince))`);
  const insertAudit = db.prepare(`
    INSERT INTO "AuditLog" (at, actor, source, action, target, before, after)
    VALUES (?, ?, ?, ?, ?, ?, ?)`);

  const startMany = db.transaction((starts: readonly SessionStart[], at: string) =>
    starts.map((s) => Number(insertSession.run({ ...s, popId, startedAt: at }).lastInsertRowid)),
  );
  const endMany = db.transaction((ends: readonly SessionEnd[]) => {
    for (const e of ends) {
      const c = e.counters;
      endSession.run({
        id: e.id,
        reason: e.reason,
        endedAt: sqlDate(e.at),
        // No final figures (no data plane): keep what was recorded while it ran.
        bytesIn: c?.bytesIn ?? null,
        bytesOut: c?.bytesOut ?? null,
        packetsIn: c?.packetsIn ?? null,
        packetsOut: c?.packetsOut ?? null,
      });
    }
  });

  const recordMany = db.transaction((rows: readonly { id: number; counters: TrafficCounters }[]) => {
    for (const { id, counters } of rows) recordCounters.run({ id, ...counters });
  });

  // better-sqlite3 is synchronous: each call below runs to completion before it returns its promise.
  return {
    async loginRecord(name) {
      const row = user.get(name);
      if (!row) return null;
      const { clientAddress, serverAddress, disabled, ...rest } = row;
      return {
        ...rest,
        disabled: disabled !== 0,
        linkPair: clientAddress !== null && serverAddress !== null ? { clientAddress, serverAddress } : null,
      };
    },
    async credentials(userIds) {
      const found = new Map<number, UserCredential>();
      if (userIds.length === 0) return found;
      for (const row of credentials.all(JSON.stringify(userIds))) found.set(row.id, { disabled: row.disabled !== 0, popId: row.popId, tunnelPassword: row.tunnelPassword });
      return found;
    },
    async poolsStamp() {
      const row = poolsStamp.get()!;
      return `${row.n} ${row.top ?? 0}`;
    },
    async usersStamp() {
      const row = usersStamp.get()!;
      return `${row.n} ${row.latest ?? ""}`;
    },
    startSessions: async (starts, at) => (starts.length === 0 ? [] : startMany.immediate(starts, sqlDate(at))),
    endSessions: async (ends) => {
      if (ends.length > 0) endMany.immediate(ends);
    },
    recordTraffic: async (rows) => {
      if (rows.length > 0) recordMany.immediate(rows);
    },
    endAllOpen: async (reason, at) => endOpen.run({ at: sqlDate(at), reason, popId }).changes,
    openSessionIds: async () => openIds.all(popId).map((r) => r.id),
    heartbeat: async () => {
      heartbeat.run(sqlDate(new Date()), popId);
    },
    endLostPops: async (silentMs, at) => endLost.run({ at: sqlDate(at), popId, silentSince: sqlDate(new Date(at.getTime() - silentMs)) }).changes,
    audit: async (actor, entry, at) => {
      insertAudit.run(sqlDate(at), actor.name, actor.source ?? null, entry.action, entry.target ?? null, auditJson(entry.before), auditJson(entry.after));
    },
    close: async () => {
      db.close();
    },
  };
}
