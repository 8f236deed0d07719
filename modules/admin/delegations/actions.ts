"use server";

import { revalidatePath } from "next/cache";
import { requireAdmin } from "../../auth/session/lib/context.ts";
import type { FormState } from "../../core/lib/form-state.ts";
import { parseForm, refusal } from "../../core/lib/form.ts";
import { delegateForm, releaseForm } from "./lib/schemas.ts";

export async function delegatePrefix(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor } = await requireAdmin();
  const parsed = parseForm(delegateForm, form, { user: form.get("user") ?? "", pool: form.get("pool") ?? "" });
  if (!parsed.ok) return parsed.state;
  try {
    const delegation = await broker.allocations.delegate(parsed.data.user, actor, parsed.data.pool);
    revalidatePath("/admin/delegations");
    return { status: "ok", message: `Delegated ${delegation.prefix} to ${parsed.data.user}.` };
  } catch (err) {
    return refusal(err, form);
  }
}

export async function releasePrefix(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor } = await requireAdmin();
  const parsed = parseForm(releaseForm, form, { user: form.get("user"), prefix: form.get("prefix") });
  if (!parsed.ok) return parsed.state;
  try {
    await broker.allocations.release(parsed.data.user, parsed.data.prefix, actor);
  } catch (err) {
    return refusal(err, form);
  }
  revalidatePath("/admin/delegations");
  return { status: "ok", message: `Released ${parsed.data.prefix} from ${parsed.data.user}.` };
}
