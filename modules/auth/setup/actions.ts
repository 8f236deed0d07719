"use server";

import { redirect } from "next/navigation";
import { z } from "zod";
import { broker } from "../../core/lib/broker.ts";
import type { FormState } from "../../core/lib/form-state.ts";
import { formValues, parseForm, refusal } from "../../core/lib/form.ts";
import { clientAddress } from "../../core/lib/request.ts";
import { SetupLinkError } from "@/server/repositories/setup/repository.ts";
import { userNameSchema } from "@/server/repositories/users/schema.ts";
import { setupLinkName, throttledCheck, tooManyMessage } from "../sign-in/lib/throttle.ts";
import { publicHostSchema } from "@/server/repositories/settings/schema.ts";
import { webPasswordSchema } from "@/server/secrets/web-password.ts";

/** Every field is checked in one pass (the repeat against what was typed), so every mistake shows at once. */
const setupSchema = (typedPassword: unknown) =>
  z.object({
    token: z.string().min(1),
    name: userNameSchema,
    webPassword: webPasswordSchema,
    confirmPassword: z.string().refine((v) => v === typedPassword, "the two passwords differ"),
    publicHost: publicHostSchema,
  });

/** Creates the first administrator from the one-time set-up link. */
export async function completeSetup(_prev: FormState, form: FormData): Promise<FormState> {
  const input = Object.fromEntries(form);
  const parsed = parseForm(setupSchema(input.webPassword), form, { ...input, name: String(input.name ?? "").trim(), publicHost: input.publicHost ?? "" });
  if (!parsed.ok) return parsed.state;
  const { token, name, webPassword, publicHost } = parsed.data;
  const repos = await broker();
  const actor = { name: "web:setup", source: await clientAddress() };
  // The token is a secret as a password is: guesses are throttled per address and audited.
  let wrongLink: SetupLinkError | null = null;
  let checked;
  try {
    checked = await throttledCheck(actor.source, setupLinkName(actor.source), async () => {
      try {
        await repos.setup.complete(token, { name, password: webPassword, publicHost }, repos.users, actor);
        return true;
      } catch (err) {
        if (!(err instanceof SetupLinkError)) throw err;
        wrongLink = err;
        return null;
      }
    });
  } catch (err) {
    return refusal(err, form);
  }
  if (checked.verdict === "too-many") return { status: "error", message: tooManyMessage(checked.retryAfterMs), values: formValues(form) };
  if (checked.verdict === "wrong") {
    await repos.audit.record(actor, { action: "web.setup.failed" });
    return refusal(wrongLink, form);
  }
  redirect(`/sign-in?name=${encodeURIComponent(name)}&created=1`);
}
