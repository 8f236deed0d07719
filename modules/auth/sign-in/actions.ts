"use server";

import { setTimeout as sleep } from "node:timers/promises";
import { redirect } from "next/navigation";
import { z } from "zod";
import { writeAudit } from "@/server/repositories/audit/repository.ts";
import { broker } from "../../core/lib/broker.ts";
import type { FormState } from "../../core/lib/form-state.ts";
import { formValues, parseForm } from "../../core/lib/form.ts";
import { clientAddress, userAgent } from "../../core/lib/request.ts";
import { setSessionCookie } from "../session/lib/context.ts";
import { signInGuard } from "./lib/throttle.ts";

const signInSchema = z.object({
  name: z.string().trim().min(1, "enter your user name").max(64, "no user name is that long"),
  password: z.string().min(1, "enter your password").max(256, "no password is that long"),
});

export async function signIn(_prev: FormState, form: FormData): Promise<FormState> {
  const parsed = parseForm(signInSchema, form, { name: form.get("name"), password: form.get("password") });
  if (!parsed.ok) return parsed.state;
  const { name, password } = parsed.data;
  const source = await clientAddress();
  const guard = signInGuard();
  // After a few failures every attempt waits longer, whether its password is right or not.
  const delay = guard.delayMs(source, name);
  if (delay > 0) await sleep(delay);

  const repos = await broker();
  const user = await repos.users.checkWebPassword(name, password);
  if (!user) {
    guard.recordFailure(source, name);
    await writeAudit(repos.db, { name: "web", source }, { action: "web.sign-in.failed", target: name });
    return { status: "error", message: "The user name or password is wrong, or the account is disabled.", values: formValues(form) };
  }
  guard.recordSuccess(source, name);
  const { token, expiresAt } = await repos.webSessions.start(user, await userAgent(), source);
  await setSessionCookie(token, expiresAt);
  redirect(user.role === "admin" ? "/admin/users" : "/tunnel");
}
