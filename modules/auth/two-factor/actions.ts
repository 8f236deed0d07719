"use server";

import { revalidatePath } from "next/cache";
import { z } from "zod";
import { requireUser } from "../session/lib/context.ts";
import { throttledCheck, tooManyMessage } from "../sign-in/lib/throttle.ts";
import type { FormState } from "../../core/lib/form-state.ts";
import { parseForm, refusal } from "../../core/lib/form.ts";

const PAGES = ["/account", "/enrol"];
const refresh = () => PAGES.forEach((p) => revalidatePath(p));

/** Starts enrolling an authenticator: a new secret, shown as a QR code until a code from it is confirmed. */
export async function beginTotp(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, user, actor } = await requireUser({ enrolling: true });
  try {
    await broker.twoFactor.begin(user.id, actor);
  } catch (err) {
    return refusal(err, form);
  }
  refresh();
  return { status: "ok", message: "Scan the QR code with your authenticator app, then type the code it shows." };
}

const confirmSchema = z.object({ code: z.string().trim().regex(/^\d{3}\s?\d{3}$/, "the code is the 6 digits your app shows") });

/** Turns TOTP on once a code from the new secret is right; the recovery codes are shown this once. */
export async function confirmTotp(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, user, actor } = await requireUser({ enrolling: true });
  const parsed = parseForm(confirmSchema, form, { code: form.get("code") });
  if (!parsed.ok) return parsed.state;
  let codes: string[];
  try {
    codes = await broker.twoFactor.confirm(user.id, parsed.data.code, actor);
  } catch (err) {
    return refusal(err, form);
  }
  refresh();
  return {
    status: "ok",
    message: "Two-factor sign-in is on. Keep these recovery codes somewhere safe: each signs you in once without your phone.",
    reveal: [{ label: "Recovery codes", value: codes.join(" ") }],
  };
}

export async function cancelTotp(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, user, actor } = await requireUser({ enrolling: true });
  try {
    await broker.twoFactor.cancel(user.id, actor);
  } catch (err) {
    return refusal(err, form);
  }
  refresh();
  return { status: "ok", message: "Set-up cancelled." };
}

const disableSchema = z.object({ proof: z.string().min(1, "enter a current code or your password").max(256, "that is too long") });

/** Turns TOTP off; proven with a current code or the web password. */
export async function disableTotp(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, user, actor } = await requireUser();
  const parsed = parseForm(disableSchema, form, { proof: form.get("proof") });
  if (!parsed.ok) return { ...parsed.state, values: {} };
  const proof = parsed.data.proof.trim();
  const checked = await throttledCheck(actor.source ?? "unknown", user.name, async () =>
    (/^\d{3}\s?\d{3}$/.test(proof) ? await broker.twoFactor.checkTotp(user.id, proof) : (await broker.users.checkWebPassword(user.name, parsed.data.proof)) !== null) || null,
  );
  if (checked.verdict === "too-many") return { status: "error", fieldErrors: { proof: tooManyMessage(checked.retryAfterMs) } };
  if (checked.verdict === "wrong") {
    await broker.audit.record(actor, { action: "web.password-check.failed", target: user.name, after: { purpose: "turn two-factor sign-in off" } });
    return { status: "error", fieldErrors: { proof: "That is neither a current code nor your password." } };
  }
  try {
    await broker.twoFactor.disable(user.id, actor);
  } catch (err) {
    return refusal(err, form);
  }
  refresh();
  return { status: "ok", message: "Two-factor sign-in is off; your recovery codes no longer work." };
}
