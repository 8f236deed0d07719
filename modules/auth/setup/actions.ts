"use server";

import { redirect } from "next/navigation";
import { z } from "zod";
import { broker } from "../../core/lib/broker.ts";
import type { FormState } from "../../core/lib/form-state.ts";
import { parseForm, refusal } from "../../core/lib/form.ts";
import { clientAddress } from "../../core/lib/request.ts";

const setupSchema = z
  .object({
    token: z.string().min(1),
    name: z.string().trim(),
    webPassword: z.string(),
    confirmPassword: z.string(),
  })
  .refine((v) => v.webPassword === v.confirmPassword, { message: "the two passwords differ", path: ["confirmPassword"] });

/** Creates the first administrator from the one-time set-up link. */
export async function completeSetup(_prev: FormState, form: FormData): Promise<FormState> {
  const parsed = parseForm(setupSchema, form, Object.fromEntries(form));
  if (!parsed.ok) return parsed.state;
  const { token, name, webPassword } = parsed.data;
  const repos = await broker();
  try {
    await repos.setup.complete(token, { name, password: webPassword }, repos.users, { name: "web:setup", source: await clientAddress() });
  } catch (err) {
    return refusal(err, form);
  }
  redirect(`/sign-in?name=${encodeURIComponent(name)}`);
}
