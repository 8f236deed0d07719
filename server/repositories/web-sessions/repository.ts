import { type Role } from "../../domain/types.ts";
import type { Db } from "../../db/client.ts";
import type { User, WebSession } from "../../db/generated/client.ts";
import { hashToken, newToken } from "../../secrets/token.ts";

import { audited, writeAudit, type Actor } from "../audit/repository.ts";

/** A session ends this long after the browser was last seen. */
export const WEB_SESSION_IDLE_MS = 14 * 24 * 3600_000;
/** lastSeenAt (and the expiry with it) is written at most this often per session. */
const TOUCH_INTERVAL_MS = 5 * 60_000;
/** A password checked with the TOTP code still to come is good for this long. */
export const SECOND_FACTOR_WINDOW_MS = 5 * 60_000;
/** Wrong codes one half-signed-in session may try before the password is needed again. */
export const SECOND_FACTOR_MAX_FAILURES = 5;

/** Who a browser is signed in as: no hash, sealed secret or other stored secret travels with it. */
export interface SignedInUser {
  id: number;
  name: string;
  role: Role;
  /** Two-factor sign-in is on. */
  totp: boolean;
}

export interface SignedIn {
  session: Pick<WebSession, "id" | "createdAt" | "lastSeenAt" | "expiresAt">;
  user: SignedInUser;
}

const SIGNED_IN_USER = { id: true, name: true, role: true, disabled: true, totpSecret: true } as const;

function signedInUser(user: Pick<User, "id" | "name" | "role" | "totpSecret">): SignedInUser {
  return { id: user.id, name: user.name, role: user.role === "admin" ? "admin" : "user", totp: user.totpSecret !== null };
}

/** Server-side web sessions: the browser holds a random token, the database its SHA-256. */
export class WebSessionRepository {
  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** A user's signed-in browsers (fully signed in: past the second factor), most recently seen first. */
  async signedIn(userId: number): Promise<{ id: string; userAgent: string | null; createdAt: Date; lastSeenAt: Date }[]> {
    return this.db.webSession.findMany({
      where: { userId, secondFactorPending: false },
      orderBy: { lastSeenAt: "desc" },
      select: { id: true, userAgent: true, createdAt: true, lastSeenAt: true },
    });
  }

  /** Starts a session for a user who just proved their password; returns the cookie token. */
  async start(user: { id: number; name: string }, userAgent: string | null, source: string, secondFactor?: string): Promise<{ token: string; expiresAt: Date }> {
    const { token, hash } = newToken();
    const now = this.now();
    const expiresAt = new Date(now.getTime() + WEB_SESSION_IDLE_MS);
    await this.db.webSession.create({
      data: { id: hash, userId: user.id, createdAt: now, lastSeenAt: now, expiresAt, userAgent: userAgent?.slice(0, 300) ?? null },
    });
    await writeAudit(this.db, { name: `web:${user.name}`, source }, { action: "web.sign-in", target: user.name, ...(secondFactor ? { after: { secondFactor } } : {}) });
    // Sign-ins are rare enough to tidy up on: expired rows go here rather than on a timer.
    await this.prune();
    return { token, expiresAt };
  }

  /**
   * A half-signed-in session: the password was right and the TOTP code is still to come. It grants
   * nothing (find() does not see it) but the code step, for SECOND_FACTOR_WINDOW_MS.
   */
  async startPending(user: { id: number; name: string }, userAgent: string | null, source: string): Promise<{ token: string; expiresAt: Date }> {
    const { token, hash } = newToken();
    const now = this.now();
    const expiresAt = new Date(now.getTime() + SECOND_FACTOR_WINDOW_MS);
    await this.db.webSession.create({
      data: { id: hash, userId: user.id, createdAt: now, lastSeenAt: now, expiresAt, userAgent: userAgent?.slice(0, 300) ?? null, secondFactorPending: true },
    });
    await writeAudit(this.db, { name: `web:${user.name}`, source }, { action: "web.sign-in.password-ok", target: user.name, after: { secondFactor: "pending" } });
    return { token, expiresAt };
  }

  /** The half-signed-in session a pending token stands for; null when unknown, expired, complete or the user is disabled. */
  async findPending(token: string): Promise<SignedIn | null> {
    const found = await this.db.webSession.findUnique({ where: { id: hashToken(token) }, include: { user: { select: SIGNED_IN_USER } } });
    if (!found || !found.secondFactorPending || found.expiresAt <= this.now() || found.user.disabled) return null;
    const { user, ...session } = found;
    return { session, user: signedInUser(user) };
  }

  /** Counts a wrong code; after SECOND_FACTOR_MAX_FAILURES the half-signed-in session ends. Returns whether it still stands. */
  async secondFactorFailed(token: string): Promise<boolean> {
    const id = hashToken(token);
    const updated = await this.db.webSession.updateMany({ where: { id, secondFactorPending: true }, data: { secondFactorFailures: { increment: 1 } } });
    if (updated.count === 0) return false;
    const { count } = await this.db.webSession.deleteMany({ where: { id, secondFactorFailures: { gte: SECOND_FACTOR_MAX_FAILURES } } });
    return count === 0;
  }

  /** The session and user a cookie token stands for; null when unknown, expired, half-signed-in or the user is disabled. */
  async find(token: string): Promise<SignedIn | null> {
    const found = await this.db.webSession.findUnique({ where: { id: hashToken(token) }, include: { user: { select: SIGNED_IN_USER } } });
    if (!found || found.secondFactorPending) return null;
    const now = this.now();
    if (found.expiresAt <= now || found.user.disabled) return null;
    const { user, ...session } = found;
    if (now.getTime() - session.lastSeenAt.getTime() >= TOUCH_INTERVAL_MS) {
      const expiresAt = new Date(now.getTime() + WEB_SESSION_IDLE_MS);
      await this.db.webSession.updateMany({ where: { id: session.id }, data: { lastSeenAt: now, expiresAt } });
      return { session: { ...session, lastSeenAt: now, expiresAt }, user: signedInUser(user) };
    }
    return { session, user: signedInUser(user) };
  }

  /**
   * Which of these sign-ins (WebSession ids) still stand, with the user as they are now: not
   * expired, not half-signed-in, the user not disabled. For re-checking long-lived live views.
   */
  async standing(ids: readonly string[]): Promise<Map<string, { name: string; role: Role }>> {
    const now = this.now();
    const result = new Map<string, { name: string; role: Role }>();
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db.webSession.findMany({
        where: { id: { in: ids.slice(i, i + 500) }, secondFactorPending: false, expiresAt: { gt: now }, user: { disabled: false } },
        select: { id: true, user: { select: { name: true, role: true } } },
      });
      for (const row of rows) result.set(row.id, { name: row.user.name, role: row.user.role === "admin" ? "admin" : "user" });
    }
    return result;
  }

  /** Signs one browser out. */
  async end(token: string): Promise<void> {
    await this.db.webSession.deleteMany({ where: { id: hashToken(token) } });
  }

  /** Signs a user out of every browser; returns how many sessions ended. */
  endAll(userName: string, actor: Actor): Promise<number> {
    return audited(this.db, actor, "web-session.end-all", userName, async (tx) => {
      const { count } = await tx.webSession.deleteMany({ where: { user: { name: userName } } });
      return { result: count, after: { ended: count } };
    });
  }

  /** Deletes expired sessions. */
  async prune(): Promise<number> {
    const { count } = await this.db.webSession.deleteMany({ where: { expiresAt: { lte: this.now() } } });
    return count;
  }
}
