/** Bytes per hour for the last 24 hours, from session rows' totals. */
export interface HourBucket {
  start: Date;
  bytesIn: number;
  bytesOut: number;
}

export interface SessionTraffic {
  startedAt: Date;
  endedAt: Date | null;
  bytesIn: bigint;
  bytesOut: bigint;
}

const HOUR = 3600_000;

/**
 * Spreads each session's counters evenly over its lifetime (a live one up to `now`) and adds
 * the part that falls in each of the 24 hours ending with the current one. Rows keep totals
 * only, so this is an estimate of when the traffic happened, exact in sum.
 */
export function hourlyTraffic(sessions: SessionTraffic[], now: Date): HourBucket[] {
  const currentHour = Math.floor(now.getTime() / HOUR) * HOUR;
  const first = currentHour - 23 * HOUR;
  const buckets: HourBucket[] = Array.from({ length: 24 }, (_, i) => ({ start: new Date(first + i * HOUR), bytesIn: 0, bytesOut: 0 }));
  for (const s of sessions) {
    const start = s.startedAt.getTime();
    const end = Math.max(start, Math.min((s.endedAt ?? now).getTime(), now.getTime()));
    const duration = end - start;
    buckets.forEach((bucket, i) => {
      const from = first + i * HOUR;
      const overlap = Math.min(end, from + HOUR) - Math.max(start, from);
      // A session too short to measure counts wholly in the hour it started in.
      const share = duration === 0 ? (start >= from && start < from + HOUR ? 1 : 0) : Math.max(0, overlap) / duration;
      if (share > 0) {
        bucket.bytesIn += Number(s.bytesIn) * share;
        bucket.bytesOut += Number(s.bytesOut) * share;
      }
    });
  }
  return buckets;
}
