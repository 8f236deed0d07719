"use server";

import { revalidatePath } from "next/cache";
import { requireAdmin } from "../../auth/session/lib/context.ts";
import type { FormState } from "../../core/lib/form-state.ts";
import { parseForm, refusal } from "../../core/lib/form.ts";
import { addPopForm, editPopForm, popInput, popNameForm } from "./lib/schemas.ts";

export async function addPop(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor } = await requireAdmin();
  const parsed = parseForm(addPopForm, form, popInput(form));
  if (!parsed.ok) return parsed.state;
  try {
    const pop = await broker.pops.add(parsed.data, actor);
    revalidatePath("/admin", "layout");
    return { status: "ok", message: `Added the POP ${pop.name}. Start its daemon with dtcps --pop ${pop.name}, then give it pools.` };
  } catch (err) {
    return refusal(err, form);
  }
}

export async function editPop(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor } = await requireAdmin();
  const parsed = parseForm(editPopForm, form, popInput(form));
  if (!parsed.ok) return parsed.state;
  const { name, ...changes } = parsed.data;
  try {
    await broker.pops.update(name, changes, actor);
  } catch (err) {
    return refusal(err, form);
  }
  revalidatePath("/admin", "layout");
  return { status: "ok", message: `Saved the POP ${name}.` };
}

export async function removePop(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor } = await requireAdmin();
  const parsed = parseForm(popNameForm, form, { name: form.get("name") });
  if (!parsed.ok) return parsed.state;
  try {
    await broker.pops.remove(parsed.data.name, actor);
  } catch (err) {
    return refusal(err, form);
  }
  revalidatePath("/admin", "layout");
  return { status: "ok", message: `Removed the POP ${parsed.data.name}.` };
}
