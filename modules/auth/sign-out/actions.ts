"use server";

import { redirect } from "next/navigation";
import { broker } from "../../core/lib/broker.ts";
import { requireUser, takeSessionCookie } from "../session/lib/context.ts";

export async function signOut(): Promise<void> {
  const token = await takeSessionCookie();
  if (token) await (await broker()).webSessions.end(token);
  redirect("/sign-in");
}

/** Ends every web session of the signed-in user, this one included. */
export async function signOutEverywhere(): Promise<void> {
  const auth = await requireUser();
  await auth.broker.webSessions.endAll(auth.user.name, auth.actor);
  await takeSessionCookie();
  redirect("/sign-in");
}
