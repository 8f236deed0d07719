import type { Db } from "../../db/client.ts";
import { isBusy, type LoginStore } from "../../db/login-store.ts";
import type { EndReason, SessionEnd, SessionStart, TrafficCounters } from "../../domain/types.ts";
import { PURGE_BATCH, purgeInBatches } from "../audit/repository.ts";

interface Pending<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

// Another process holding the write lock (the CLI, the web app) is waited out with growing pauses.
const RETRY_MS = [5, 10, 20, 50, 100, 200, 500];

/**
 * Writes session rows for the daemon. Starts and ends queued in one event-loop turn go to the
 * database in one transaction each, so a burst of logins costs a few commits, not one per login.
 */
export class SessionLedger {
  #starts: Pending<SessionStart, number>[] = [];
  #ends: Pending<SessionEnd, void>[] = [];
  #timer: NodeJS.Immediate | NodeJS.Timeout | null = null;
  #busyRetries = 0;
  #idle: (() => void)[] = [];

  constructor(private readonly store: LoginStore) {}

  /** Records a session start; resolves to the row id. */
  start(start: SessionStart): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#starts.push({ item: start, resolve, reject });
      this.#schedule();
    });
  }

  end(id: number, reason: EndReason, counters: TrafficCounters | null = null): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#ends.push({ item: { id, reason, counters }, resolve, reject });
      this.#schedule();
    });
  }

  /** Marks every session left open (by a crash or a kill) as ended; returns how many. */
  endAllOpen(reason: EndReason): Promise<number> {
    return this.store.endAllOpen(reason, new Date());
  }

  /** Resolves once everything queued so far is written. */
  drain(): Promise<void> {
    if (this.#timer === null) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #schedule(delayMs = 0): void {
    if (this.#timer !== null) return;
    this.#timer = delayMs === 0 ? setImmediate(() => void this.#flush()) : setTimeout(() => void this.#flush(), delayMs);
  }

  // One flush at a time: #timer stays set while it runs, so what is queued meanwhile waits for the next.
  async #flush(): Promise<void> {
    const now = new Date();
    // Starts before ends: an end queued in the same turn as its start must find the row.
    const written = (await this.#write(this.#starts, (items) => this.store.startSessions(items, now))) && (await this.#write(this.#ends, (items) => this.store.endSessions(items, now)));
    this.#timer = null;
    if (!written) {
      this.#schedule(RETRY_MS[Math.min(this.#busyRetries++, RETRY_MS.length - 1)]);
      return;
    }
    this.#busyRetries = 0;
    if (this.#starts.length > 0 || this.#ends.length > 0) this.#schedule();
    else for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Writes one queue; false (queue kept for a retry) when the database was locked. */
  async #write<T, R>(queue: Pending<T, R>[], write: (items: T[]) => Promise<R[] | void>): Promise<boolean> {
    if (queue.length === 0) return true;
    const batch = queue.splice(0);
    try {
      const results = await write(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve((results ? results[i] : undefined) as R));
      return true;
    } catch (err) {
      if (isBusy(err)) {
        queue.unshift(...batch);
        return false;
      }
      for (const p of batch) p.reject(err);
      return true;
    }
  }
}

export interface SessionFilter {
  live?: boolean;
  /** The name sessions were made under, removed accounts included. */
  userName?: string;
  /** Only the account that exists now (a user's own history). */
  userId?: number;
  endReason?: EndReason;
  /** Served by this POP (by name). */
  pop?: string;
  /** Started at or after. */
  from?: Date;
  /** Started before. */
  to?: Date;
  /** Paging: sessions with a smaller id (older). */
  beforeId?: number;
  limit?: number;
}

/** A stored session, live (no endedAt) or ended, with the counters last written. */
export interface SessionRecord {
  id: number;
  /** Null once the account is removed; userName stays. */
  userId: number | null;
  userName: string;
  /** The POP that served it; null once that POP was removed. */
  pop: string | null;
  /** tunnelonly, host or network. */
  type: string;
  /** proto41, udp or tcp. */
  transport: string;
  clientIpv4: string;
  serverIpv4: string;
  clientUdpPort: number | null;
  serverUdpPort: number | null;
  clientIpv6: string | null;
  serverIpv6: string | null;
  prefix: string | null;
  startedAt: Date;
  endedAt: Date | null;
  endReason: string | null;
  bytesIn: bigint;
  bytesOut: bigint;
  packetsIn: bigint;
  packetsOut: bigint;
}

/** Stored sessions, as listings (CLI, web) and the portal's traffic chart read them. */
export class SessionHistory {
  constructor(private readonly db: Db) {}

  /** Removes sessions that ended before `cutoff` (live ones stay, however old), in batches; returns how many. */
  async purgeEndedBefore(cutoff: Date, batch = PURGE_BATCH): Promise<number> {
    return purgeInBatches(batch, async (take) => {
      const ids = (await this.db.session.findMany({ select: { id: true }, where: { endedAt: { lt: cutoff } }, orderBy: { id: "asc" }, take })).map((r) => r.id);
      return ids.length === 0 ? 0 : (await this.db.session.deleteMany({ where: { id: { in: ids } } })).count;
    });
  }

  /** Newest first, each with the name of the POP that served it (null once that POP was removed). */
  async list(filter: SessionFilter = {}): Promise<SessionRecord[]> {
    const rows = await this.db.session.findMany({
      include: { pop: { select: { name: true } } },
      where: {
        ...(filter.pop ? { pop: { name: filter.pop } } : {}),
        ...(filter.live ? { endedAt: null } : {}),
        ...(filter.userName ? { userName: filter.userName } : {}),
        ...(filter.userId !== undefined ? { userId: filter.userId } : {}),
        ...(filter.endReason ? { endReason: filter.endReason } : {}),
        ...(filter.from || filter.to ? { startedAt: { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lt: filter.to } : {}) } } : {}),
        ...(filter.beforeId !== undefined ? { id: { lt: filter.beforeId } } : {}),
      },
      orderBy: { id: "desc" },
      take: filter.limit ?? 100,
    });
    return rows.map((row) => ({
      id: row.id,
      userId: row.userId,
      userName: row.userName,
      pop: row.pop?.name ?? null,
      type: row.type,
      transport: row.transport,
      clientIpv4: row.clientIpv4,
      serverIpv4: row.serverIpv4,
      clientUdpPort: row.clientUdpPort,
      serverUdpPort: row.serverUdpPort,
      clientIpv6: row.clientIpv6,
      serverIpv6: row.serverIpv6,
      prefix: row.prefix,
      startedAt: row.startedAt,
      endedAt: row.endedAt,
      endReason: row.endReason,
      bytesIn: row.bytesIn,
      bytesOut: row.bytesOut,
      packetsIn: row.packetsIn,
      packetsOut: row.packetsOut,
    }));
  }

  /** A user's sessions that were running at some time between from and to, with their counters. */
  overlapping(userId: number, from: Date, to: Date): Promise<{ startedAt: Date; endedAt: Date | null; bytesIn: bigint; bytesOut: bigint }[]> {
    return this.db.session.findMany({
      where: { userId, startedAt: { lt: to }, OR: [{ endedAt: null }, { endedAt: { gt: from } }] },
      select: { startedAt: true, endedAt: true, bytesIn: true, bytesOut: true },
    });
  }
}
