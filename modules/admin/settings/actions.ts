"use server";

import { revalidatePath } from "next/cache";
import { z } from "zod";
import { requireAdmin } from "../../auth/session/lib/context.ts";
import type { FormState } from "../../core/lib/form-state.ts";
import { formValues, parseForm, refusal } from "../../core/lib/form.ts";
import { publicHostSchema } from "@/server/repositories/settings/schema.ts";

const settingsForm = z.object({ requireAdminTotp: z.enum(["on", "off"]) });

/** Saves the broker-wide settings; every change is audited. */
export async function saveSettings(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor, user } = await requireAdmin();
  const parsed = parseForm(settingsForm, form, { requireAdminTotp: form.get("requireAdminTotp") === "on" ? "on" : "off" });
  if (!parsed.ok) return parsed.state;
  const requireAdminTotp = parsed.data.requireAdminTotp === "on";
  // Refused rather than locking the acting administrator into enrolment mid-way.
  if (requireAdminTotp && !user.totp) {
    return {
      status: "error",
      fieldErrors: { requireAdminTotp: "Set up two-factor sign-in for yourself first (Account page)." },
      values: formValues(form),
    };
  }
  try {
    if ((await broker.settings.get("requireAdminTotp")) !== requireAdminTotp) await broker.settings.set("requireAdminTotp", requireAdminTotp, actor);
  } catch (err) {
    return refusal(err, form);
  }
  revalidatePath("/admin/settings");
  return { status: "ok", message: "Settings saved." };
}

const publicHostForm = z.object({ publicHost: publicHostSchema });

/** The name clients connect to, put in dtcpc.auth and every command line of the portal; empty clears it. */
export async function savePublicHost(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor } = await requireAdmin();
  const parsed = parseForm(publicHostForm, form, { publicHost: form.get("publicHost") ?? "" });
  if (!parsed.ok) return parsed.state;
  try {
    if ((await broker.settings.get("publicHost")) !== parsed.data.publicHost) await broker.settings.set("publicHost", parsed.data.publicHost, actor);
  } catch (err) {
    return refusal(err, form);
  }
  revalidatePath("/admin/settings");
  revalidatePath("/tunnel");
  return { status: "ok", message: parsed.data.publicHost ? `Clients connect to ${parsed.data.publicHost}.` : "The server name is cleared." };
}

const userForm = z.object({ name: z.string().min(1) });

/** For a user who lost their authenticator and recovery codes: TOTP off, so the password alone signs in. */
export async function resetUserTotp(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor } = await requireAdmin();
  const parsed = parseForm(userForm, form, { name: form.get("name") });
  if (!parsed.ok) return parsed.state;
  try {
    const target = await broker.users.get(parsed.data.name);
    await broker.twoFactor.disable(target.id, actor);
  } catch (err) {
    return refusal(err, form);
  }
  revalidatePath(`/admin/users/${parsed.data.name}`);
  return { status: "ok", message: `Two-factor sign-in is off for ${parsed.data.name}.` };
}
