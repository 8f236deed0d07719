import type { Db } from "../../db/client.ts";
import { isBusy, type LoginStore } from "../../db/login-store.ts";
import type { EndReason, SessionEnd, SessionStart, TrafficCounters } from "../../domain/types.ts";
import type { ProblemLog } from "../../log.ts";
import { PURGE_BATCH, purgeInBatches } from "../audit/repository.ts";

interface Pending<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

// Another process holding the write lock (the CLI, the web app) is waited out with growing pauses;
// a database that is down or full, with pauses growing to a few seconds.
const RETRY_MS = [5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000];

/**
 * Writes session rows for the daemon. Starts and ends queued in one event-loop turn go to the
 * database in one transaction each, so a burst of logins costs a few commits, not one per login.
 * A start that cannot be written fails its login. An end is kept, with the time it happened, and
 * written again until the database takes it: a session that ended during an outage does not stay
 * live in the history.
 */
export class SessionLedger {
  #starts: Pending<SessionStart, number>[] = [];
  #ends: Pending<SessionEnd, void>[] = [];
  /** Ends the database did not take yet, by session id. */
  readonly #unwritten = new Set<number>();
  #timer: NodeJS.Immediate | NodeJS.Timeout | null = null;
  /** #timer is a retry's pause, not yet started: a login need not wait it out. */
  #pausing = false;
  #retries = 0;
  #idle: (() => void)[] = [];

  constructor(
    private readonly store: LoginStore,
    private readonly problems: ProblemLog | null = null,
  ) {}

  /** Records a session start; resolves to the row id. */
  start(start: SessionStart): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#starts.push({ item: start, resolve, reject });
      // A login is answered at once, whether the database is back or not, rather than after the
      // pause of ends waiting to be written again.
      if (this.#pausing) {
        clearTimeout(this.#timer as NodeJS.Timeout);
        this.#timer = null;
        this.#pausing = false;
      }
      this.#schedule();
    });
  }

  /**
   * Records a session's end, as of now. Resolves once written, or once the first attempt failed:
   * the end is then kept and written later, and the caller need not wait for the database.
   */
  end(id: number, reason: EndReason, counters: TrafficCounters | null = null): Promise<void> {
    return new Promise((resolve) => {
      this.#ends.push({ item: { id, reason, counters, at: new Date() }, resolve, reject: () => resolve() });
      this.#schedule();
    });
  }

  /** The sessions whose ends are queued or waiting for the database. */
  pendingEnds(): Set<number> {
    return new Set([...this.#unwritten, ...this.#ends.map((p) => p.item.id)]);
  }

  /** Ends written later than they happened, still waiting. */
  get unwritten(): number {
    return this.#unwritten.size;
  }

  /** Marks every session left open (by a crash or a kill) as ended at this POP's last heartbeat; returns how many. */
  endAllOpen(reason: EndReason): Promise<number> {
    return this.store.endAllOpen(reason, new Date());
  }

  /** Resolves once everything queued so far is written, or after `timeoutMs`; returns how many ends are left unwritten. */
  async drain(timeoutMs = Infinity): Promise<number> {
    if (this.#timer !== null) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#idle.push(resolve)),
        ...(Number.isFinite(timeoutMs) ? [new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))] : []),
      ]);
      clearTimeout(timer);
    }
    return this.#ends.length + this.#unwritten.size;
  }

  #schedule(delayMs = 0): void {
    if (this.#timer !== null) return;
    this.#pausing = delayMs > 0;
    this.#timer = delayMs === 0 ? setImmediate(() => void this.#flush()) : setTimeout(() => void this.#flush(), delayMs);
  }

  // One flush at a time: #timer stays set while it runs, so what is queued meanwhile waits for the next.
  async #flush(): Promise<void> {
    this.#pausing = false;
    const now = new Date();
    // Starts before ends: an end queued in the same turn as its start must find the row.
    const written = (await this.#writeStarts(now)) && (await this.#writeEnds());
    this.#timer = null;
    if (!written) {
      this.#schedule(RETRY_MS[Math.min(this.#retries++, RETRY_MS.length - 1)]);
      return;
    }
    this.#retries = 0;
    if (this.#starts.length > 0 || this.#ends.length > 0) this.#schedule();
    else for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** False (queue kept for a retry) when the database was locked; any other failure fails the logins. */
  async #writeStarts(now: Date): Promise<boolean> {
    if (this.#starts.length === 0) return true;
    const batch = this.#starts.splice(0);
    try {
      const ids = await this.store.startSessions(
        batch.map((p) => p.item),
        now,
      );
      batch.forEach((p, i) => p.resolve(ids[i]!));
      return true;
    } catch (err) {
      if (isBusy(err)) {
        this.#starts.unshift(...batch);
        return false;
      }
      for (const p of batch) p.reject(err);
      return true;
    }
  }

  /** False (queue kept for a retry) when the database did not take them, for whatever reason. */
  async #writeEnds(): Promise<boolean> {
    if (this.#ends.length === 0) return true;
    const batch = this.#ends.splice(0);
    try {
      await this.store.endSessions(batch.map((p) => p.item));
      for (const p of batch) {
        if (this.#unwritten.delete(p.item.id) && this.#unwritten.size === 0) this.problems?.recovered("writing session ends");
        p.resolve();
      }
      return true;
    } catch (err) {
      this.#ends.unshift(...batch);
      if (!isBusy(err)) {
        this.problems?.report("writing session ends (kept, written once the database takes them)", err);
        // The callers go on; the ends stay queued with the times they happened.
        for (const p of batch) {
          this.#unwritten.add(p.item.id);
          p.resolve();
        }
      }
      return false;
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
