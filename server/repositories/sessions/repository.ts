import type { Db } from "../../db/client.ts";
import { writeTransaction } from "../../db/transaction.ts";
import type { TunnelType, Transport } from "../users/schema.ts";

export interface SessionStart {
  userId: number;
  type: TunnelType;
  transport: Transport;
  clientIpv4: string;
  serverIpv4: string;
  clientUdpPort: number | null;
  serverUdpPort: number | null;
  clientIpv6: string | null;
  serverIpv6: string | null;
  prefix: string | null;
}

export interface TrafficCounters {
  bytesIn: bigint;
  bytesOut: bigint;
  packetsIn: bigint;
  packetsOut: bigint;
}

/** Why a session ended, as recorded in its row. */
export type EndReason = "quit" | "closed" | "timeout" | "replaced" | "kicked" | "shutdown" | "restart" | "setup-failed";

interface PendingStart {
  start: SessionStart;
  resolve: (id: number) => void;
  reject: (err: unknown) => void;
}

interface PendingEnd {
  id: number;
  reason: EndReason;
  counters: TrafficCounters | null;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Writes session rows. Logins arrive in bursts and each Prisma query has a fixed cost far above
 * SQLite's, so starts and ends queued in one event-loop turn are written together.
 */
export class SessionLedger {
  #starts: PendingStart[] = [];
  #ends: PendingEnd[] = [];
  #scheduled = false;
  #flushing: Promise<void> = Promise.resolve();

  constructor(private readonly db: Db) {}

  /** Records a session start; resolves to the row id. */
  start(start: SessionStart): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#starts.push({ start, resolve, reject });
      this.#schedule();
    });
  }

  end(id: number, reason: EndReason, counters: TrafficCounters | null = null): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#ends.push({ id, reason, counters, resolve, reject });
      this.#schedule();
    });
  }

  /** Marks every session left open (by a crash or a kill) as ended; returns how many. */
  async endAllOpen(reason: EndReason): Promise<number> {
    await this.#flushing;
    const { count } = await this.db.session.updateMany({ where: { endedAt: null }, data: { endedAt: new Date(), endReason: reason } });
    return count;
  }

  /** Resolves once everything queued so far is written. */
  async drain(): Promise<void> {
    while (this.#scheduled || this.#starts.length > 0 || this.#ends.length > 0) {
      await this.#flushing;
      await new Promise((r) => setImmediate(r));
    }
    await this.#flushing;
  }

  list(filter: { live?: boolean; userName?: string; limit?: number } = {}) {
    return this.db.session.findMany({
      where: {
        ...(filter.live ? { endedAt: null } : {}),
        ...(filter.userName ? { user: { name: filter.userName } } : {}),
      },
      include: { user: { select: { name: true } } },
      orderBy: { id: "desc" },
      take: filter.limit ?? 100,
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      // Batches are written one after another, so a session's end never overtakes its start.
      this.#flushing = this.#flushing.then(() => this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const starts = this.#starts;
    const ends = this.#ends;
    this.#starts = [];
    this.#ends = [];
    if (starts.length > 0) await this.#writeStarts(starts);
    if (ends.length > 0) await this.#writeEnds(ends);
  }

  async #writeStarts(batch: PendingStart[]): Promise<void> {
    try {
      const rows = await this.db.session.createManyAndReturn({
        data: batch.map((p) => p.start),
        select: { id: true },
      });
      // SQLite fills INTEGER PRIMARY KEY AUTOINCREMENT ids in insertion order within one statement,
      // so sorting the returned ids restores the order of `data` whatever order RETURNING used.
      const ids = rows.map((r) => r.id).sort((a, b) => a - b);
      batch.forEach((p, i) => p.resolve(ids[i]!));
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }

  async #writeEnds(batch: PendingEnd[]): Promise<void> {
    const endedAt = new Date();
    try {
      await writeTransaction(this.db, async (tx) => {
        const plain = new Map<EndReason, number[]>();
        for (const e of batch) {
          if (e.counters) {
            await tx.session.update({ where: { id: e.id }, data: { endedAt, endReason: e.reason, ...e.counters } });
          } else {
            plain.set(e.reason, [...(plain.get(e.reason) ?? []), e.id]);
          }
        }
        for (const [endReason, ids] of plain) {
          await tx.session.updateMany({ where: { id: { in: ids }, endedAt: null }, data: { endedAt, endReason } });
        }
      });
      for (const e of batch) e.resolve();
    } catch (err) {
      for (const e of batch) e.reject(err);
    }
  }
}
