import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import { cache } from "react";
import type { Actor } from "@/server/repositories/audit/repository.ts";
import type { SignedInUser } from "@/server/repositories/web-sessions/repository.ts";
import { broker, type Broker } from "../../../core/lib/broker.ts";
import { clientAddress, overHttps } from "../../../core/lib/request.ts";

export const SESSION_COOKIE = "broker_session";
/** The half-signed-in state between the password and the TOTP code. */
export const PENDING_COOKIE = "broker_pending";
/** Where an administrator without TOTP goes when the broker requires it of administrators. */
export const ENROL_PATH = "/enrol";

/** Who is asking, as every page and action sees it. */
export interface AuthContext {
  user: SignedInUser;
  sessionId: string;
  /** An administrator without TOTP while the broker requires it: nothing but enrolment is open to them. */
  mustEnrolTotp: boolean;
  /** For the audit log: "web:<name>" and the client's address. */
  actor: Actor;
  broker: Broker;
}

/** The signed-in user of this request, or null. Cached per request. */
export const getAuth = cache(async (): Promise<AuthContext | null> => {
  const token = (await cookies()).get(SESSION_COOKIE)?.value;
  if (!token) return null;
  const repos = await broker();
  const found = await repos.webSessions.find(token);
  if (!found) return null;
  const { user, session } = found;
  return {
    user,
    sessionId: session.id,
    mustEnrolTotp: user.role === "admin" && !user.totp && (await repos.settings.get("requireAdminTotp")),
    actor: { name: `web:${user.name}`, source: await clientAddress() },
    broker: repos,
  };
});

/**
 * The signed-in user; anyone else is sent to the sign-in page, and an administrator who must set up
 * TOTP first to the enrolment page (`enrolling`: the pages and actions of that enrolment).
 */
export async function requireUser(options: { enrolling?: boolean } = {}): Promise<AuthContext> {
  const auth = await getAuth();
  if (!auth) redirect("/sign-in");
  if (auth.mustEnrolTotp && !options.enrolling) redirect(ENROL_PATH);
  return auth;
}

/** A signed-in administrator; a signed-in user who is not one gets the "not allowed" page. */
export async function requireAdmin(): Promise<AuthContext> {
  const auth = await requireUser();
  if (auth.user.role !== "admin") redirect("/not-allowed");
  return auth;
}

/** Puts the session token in an httpOnly, SameSite=Lax cookie (Secure over HTTPS). */
export async function setSessionCookie(token: string, expires: Date): Promise<void> {
  (await cookies()).set(SESSION_COOKIE, token, { httpOnly: true, sameSite: "lax", secure: await overHttps(), path: "/", expires });
}

/** The half-signed-in cookie: httpOnly, only as long as the code step lasts. */
export async function setPendingCookie(token: string, expires: Date): Promise<void> {
  (await cookies()).set(PENDING_COOKIE, token, { httpOnly: true, sameSite: "lax", secure: await overHttps(), path: "/", expires });
}

export async function pendingCookie(): Promise<string | undefined> {
  return (await cookies()).get(PENDING_COOKIE)?.value;
}

export async function clearPendingCookie(): Promise<void> {
  (await cookies()).delete(PENDING_COOKIE);
}

export async function takeSessionCookie(): Promise<string | undefined> {
  const jar = await cookies();
  const token = jar.get(SESSION_COOKIE)?.value;
  jar.delete(SESSION_COOKIE);
  return token;
}
