"use server";

import { redirect } from "next/navigation";
import { z } from "zod";
import { broker } from "../../core/lib/broker.ts";
import type { FormState } from "../../core/lib/form-state.ts";
import { formValues, parseForm } from "../../core/lib/form.ts";
import { clientAddress, userAgent } from "../../core/lib/request.ts";
import { clearPendingCookie, pendingCookie, setPendingCookie, setSessionCookie } from "../session/lib/context.ts";
import { throttledCheck, tooManyMessage } from "./lib/throttle.ts";
import { USER_NAME } from "@/server/repositories/users/schema.ts";

const signInSchema = z.object({
  name: z.string().trim().min(1, "enter your user name").max(64, "no user name is that long"),
  password: z.string().min(1, "enter your password").max(256, "no password is that long"),
});

export async function signIn(_prev: FormState, form: FormData): Promise<FormState> {
  const parsed = parseForm(signInSchema, form, { name: form.get("name"), password: form.get("password") });
  if (!parsed.ok) return parsed.state;
  const { name, password } = parsed.data;
  const wrong: FormState = { status: "error", message: "The user name or password is wrong, or the account is disabled.", values: formValues(form) };
  // No user has such a name: nothing to check, throttle or audit.
  if (!USER_NAME.test(name)) return wrong;
  const source = await clientAddress();
  const repos = await broker();
  // After a few failures every attempt waits its turn, whether its password is right or not.
  const checked = await throttledCheck(source, name, () => repos.users.checkWebPassword(name, password));
  if (checked.verdict === "too-many") return { status: "error", message: tooManyMessage(checked.retryAfterMs), values: formValues(form) };
  if (checked.verdict === "wrong") {
    await repos.audit.record({ name: "web", source }, { action: "web.sign-in.failed", target: name });
    return wrong;
  }
  const user = checked.value;
  if ((await repos.twoFactor.status(user.id)).enabled) {
    // Half signed in: the code step is throttled on the same counts, so guessing codes is
    // throttled as guessing passwords is.
    const pending = await repos.webSessions.startPending(user, await userAgent(), source);
    await setPendingCookie(pending.token, pending.expiresAt);
    redirect("/sign-in/code");
  }
  const { token, expiresAt } = await repos.webSessions.start(user, await userAgent(), source);
  await setSessionCookie(token, expiresAt);
  redirect(homeOf(user.role));
}

function homeOf(role: string): string {
  return role === "admin" ? "/admin/users" : "/tunnel";
}

const codeSchema = z.object({
  code: z.string().trim().min(1, "enter the code from your authenticator app, or a recovery code").max(64, "no code is that long"),
});

/** The second step of a sign-in with TOTP: a current code or an unused recovery code. */
export async function verifySecondFactor(_prev: FormState, form: FormData): Promise<FormState> {
  const pendingToken = await pendingCookie();
  const repos = await broker();
  const pending = pendingToken ? await repos.webSessions.findPending(pendingToken) : null;
  if (!pendingToken || !pending) {
    await clearPendingCookie();
    redirect("/sign-in?expired=1");
  }
  const parsed = parseForm(codeSchema, form, { code: form.get("code") });
  if (!parsed.ok) return parsed.state;
  const { user } = pending;
  const source = await clientAddress();
  const checked = await throttledCheck(source, user.name, () => repos.twoFactor.verify(user.id, parsed.data.code));
  if (checked.verdict === "too-many") return { status: "error", fieldErrors: { code: tooManyMessage(checked.retryAfterMs) } };
  if (checked.verdict === "wrong") {
    await repos.audit.record({ name: "web", source }, { action: "web.sign-in.failed", target: user.name, after: { step: "second factor" } });
    if (!(await repos.webSessions.secondFactorFailed(pendingToken))) {
      await clearPendingCookie();
      redirect(`/sign-in?name=${encodeURIComponent(user.name)}&expired=1`);
    }
    return { status: "error", fieldErrors: { code: "That code is not right, or it was used already." } };
  }
  const method = checked.value;
  await repos.webSessions.end(pendingToken);
  await clearPendingCookie();
  const { token, expiresAt } = await repos.webSessions.start(user, await userAgent(), source, method);
  if (method === "recovery-code") {
    const left = (await repos.twoFactor.status(user.id)).recoveryCodesLeft;
    await repos.audit.record({ name: `web:${user.name}`, source }, { action: "user.totp.recovery-code-used", target: user.name, after: { left } });
  }
  await setSessionCookie(token, expiresAt);
  redirect(homeOf(user.role));
}
