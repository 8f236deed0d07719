// How long the audit log and the session history are kept. Failed logins and logins in a loop
// write rows; a retention period is what keeps that from growing the database for ever.
import type { Repositories } from "./storage.ts";

/** Days that audit entries and ended sessions are kept; 0 keeps them for ever. */
export interface Retention {
  auditDays: number;
  historyDays: number;
}

export const DEFAULT_RETENTION: Retention = { auditDays: 180, historyDays: 365 };

const DAY_MS = 86_400_000;

/** Removes what the retention periods let go; the removal itself is audited. */
export async function purgeExpired(storage: Pick<Repositories, "audit" | "sessions">, retention: Retention, now: Date): Promise<{ audit: number; sessions: number }> {
  const audit = retention.auditDays > 0 ? await storage.audit.purgeBefore(new Date(now.getTime() - retention.auditDays * DAY_MS)) : 0;
  const sessions = retention.historyDays > 0 ? await storage.sessions.purgeEndedBefore(new Date(now.getTime() - retention.historyDays * DAY_MS)) : 0;
  if (audit + sessions > 0) await storage.audit.record({ name: "dtcps" }, { action: "retention.purge", after: { audit, sessions, ...retention } });
  return { audit, sessions };
}
