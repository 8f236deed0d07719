"use server";

import { z } from "zod";
import { webPasswordSchema } from "@/server/secrets/web-password.ts";
import { requireUser } from "../../auth/session/lib/context.ts";
import { throttledCheck, tooManyMessage } from "../../auth/sign-in/lib/throttle.ts";
import type { FormState } from "../../core/lib/form-state.ts";
import { formValues, parseForm, refusal } from "../../core/lib/form.ts";

/** Every field in one pass (the repeat against what was typed), so every mistake shows at once. */
const changePasswordForm = (typedPassword: unknown) =>
  z.object({
    currentPassword: z.string().min(1, "enter your current password"),
    webPassword: webPasswordSchema,
    confirmPassword: z.string().refine((v) => v === typedPassword, "the two passwords differ"),
  });

/** Changes the signed-in user's web password; their other browsers are signed out. */
export async function changeWebPassword(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor, user, sessionId } = await requireUser();
  const input = Object.fromEntries(form);
  const parsed = parseForm(changePasswordForm(input.webPassword), form, input);
  if (!parsed.ok) return parsed.state;
  const checked = await throttledCheck(actor.source ?? "unknown", user.name, () => broker.users.checkWebPassword(user.name, parsed.data.currentPassword));
  if (checked.verdict === "too-many") {
    return { status: "error", fieldErrors: { currentPassword: tooManyMessage(checked.retryAfterMs) }, values: formValues(form) };
  }
  if (checked.verdict === "wrong") {
    await broker.audit.record(actor, { action: "web.password-check.failed", target: user.name, after: { purpose: "change web password" } });
    return { status: "error", fieldErrors: { currentPassword: "This is not your current password." }, values: formValues(form) };
  }
  try {
    await broker.users.setWebPassword(user.name, parsed.data.webPassword, actor, sessionId);
  } catch (err) {
    return refusal(err, form);
  }
  return { status: "ok", message: "Your web password is changed. Your other browsers are signed out." };
}
