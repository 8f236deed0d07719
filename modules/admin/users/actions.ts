"use server";

import { revalidatePath } from "next/cache";
import { redirect } from "next/navigation";
import { generateWebPassword } from "@/server/secrets/web-password.ts";
import { requireAdmin, type AuthContext } from "../../auth/session/lib/context.ts";
import type { FormState } from "../../core/lib/form-state.ts";
import { parseForm, refusal } from "../../core/lib/form.ts";
import { createUserForm, createUserInput, editUserForm, editUserInput, moveUserForm, resetWebPasswordForm, userNameForm } from "./lib/schemas.ts";

export async function createUser(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor } = await requireAdmin();
  const parsed = parseForm(createUserForm, form, createUserInput(form));
  if (!parsed.ok) return parsed.state;
  const { webPassword: typedPassword, ...input } = parsed.data;
  const webPassword = typedPassword === "" ? generateWebPassword() : typedPassword;
  try {
    const { user, tunnelPassword } = await broker.users.create(input, actor, { webPassword });
    revalidatePath("/admin/users", "layout");
    return {
      status: "ok",
      message: input.pop ? `Created ${user.role} ${user.name} on the POP ${user.pop}.` : `Created ${user.role} ${user.name}.`,
      reveal: [
        { label: "DTCP password", value: tunnelPassword },
        ...(typedPassword === "" ? [{ label: "Web password", value: webPassword }] : []),
      ],
    };
  } catch (err) {
    return refusal(err, form);
  }
}

export async function editUser(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor } = await requireAdmin();
  const parsed = parseForm(editUserForm, form, editUserInput(form));
  if (!parsed.ok) return parsed.state;
  const { name, ...changes } = parsed.data;
  try {
    await broker.users.update(name, changes, actor);
  } catch (err) {
    return refusal(err, form);
  }
  revalidatePath("/admin/users", "layout");
  return { status: "ok", message: `Saved. A live session of ${name} keeps its settings until the client reconnects.` };
}

/** Moves a user to another POP: new prefixes from its pools, and a live session on the old one ends. */
export async function moveUser(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor } = await requireAdmin();
  const parsed = parseForm(moveUserForm, form, { name: form.get("name"), pop: form.get("pop") });
  if (!parsed.ok) return parsed.state;
  const { name, pop } = parsed.data;
  try {
    await broker.users.update(name, { pop }, actor);
  } catch (err) {
    return refusal(err, form);
  }
  revalidatePath("/admin/users", "layout");
  return { status: "ok", message: `${name} is served by the POP ${pop} now. Their client must connect there; the portal shows its address.` };
}

/** Refuses what would lock the signed-in administrator out. */
function notSelf(auth: AuthContext, name: string, what: string): FormState | null {
  return auth.user.name === name ? { status: "error", message: `You cannot ${what} your own account.` } : null;
}

export async function setUserDisabled(disabled: boolean, _prev: FormState, form: FormData): Promise<FormState> {
  const auth = await requireAdmin();
  const parsed = parseForm(userNameForm, form, { name: form.get("name") });
  if (!parsed.ok) return parsed.state;
  const { name } = parsed.data;
  if (disabled) {
    const refused = notSelf(auth, name, "disable");
    if (refused) return refused;
  }
  try {
    await auth.broker.users.setDisabled(name, disabled, auth.actor);
  } catch (err) {
    return refusal(err, form);
  }
  revalidatePath("/admin/users", "layout");
  return { status: "ok", message: disabled ? `${name} is disabled and signed out.` : `${name} is enabled.` };
}

export async function removeUser(_prev: FormState, form: FormData): Promise<FormState> {
  const auth = await requireAdmin();
  const parsed = parseForm(userNameForm, form, { name: form.get("name") });
  if (!parsed.ok) return parsed.state;
  const { name } = parsed.data;
  const refused = notSelf(auth, name, "remove");
  if (refused) return refused;
  try {
    await auth.broker.users.remove(name, auth.actor);
  } catch (err) {
    return refusal(err, form);
  }
  revalidatePath("/admin/users", "layout");
  redirect("/admin/users");
}

export async function resetWebPassword(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor } = await requireAdmin();
  const parsed = parseForm(resetWebPasswordForm, form, { name: form.get("name"), webPassword: form.get("webPassword") ?? "" });
  if (!parsed.ok) return parsed.state;
  const { name, webPassword: typedPassword } = parsed.data;
  const webPassword = typedPassword === "" ? generateWebPassword() : typedPassword;
  try {
    await broker.users.setWebPassword(name, webPassword, actor);
  } catch (err) {
    return refusal(err, form);
  }
  return {
    status: "ok",
    message: `The web password of ${name} is set; their browsers are signed out.`,
    reveal: typedPassword === "" ? [{ label: "Web password", value: webPassword }] : [],
  };
}

export async function rotateTunnelPassword(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor } = await requireAdmin();
  const parsed = parseForm(userNameForm, form, { name: form.get("name") });
  if (!parsed.ok) return parsed.state;
  try {
    const password = await broker.users.rotateTunnelPassword(parsed.data.name, actor);
    return {
      status: "ok",
      message: `New DTCP password for ${parsed.data.name}. A live session that logged in with the old one was ended.`,
      reveal: [{ label: "DTCP password", value: password }],
    };
  } catch (err) {
    return refusal(err, form);
  }
}
