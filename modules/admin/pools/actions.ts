"use server";

import { revalidatePath } from "next/cache";
import { requireAdmin } from "../../auth/session/lib/context.ts";
import type { FormState } from "../../core/lib/form-state.ts";
import { parseForm, refusal } from "../../core/lib/form.ts";
import { addPoolForm, addPoolInput } from "./lib/schemas.ts";

export async function addPool(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor } = await requireAdmin();
  const parsed = parseForm(addPoolForm, form, addPoolInput(form));
  if (!parsed.ok) return parsed.state;
  try {
    const pool = await broker.pools.add(parsed.data, actor);
    revalidatePath("/admin/pools");
    return { status: "ok", message: `Added the ${pool.purpose} pool ${pool.cidr}, handing out /${pool.prefixLength}${parsed.data.pop ? `, routed to the POP ${pool.pop}` : ""}.` };
  } catch (err) {
    return refusal(err, form);
  }
}

export async function removePool(_prev: FormState, form: FormData): Promise<FormState> {
  const { broker, actor } = await requireAdmin();
  const cidr = String(form.get("cidr") ?? "");
  try {
    await broker.pools.remove(cidr, actor);
  } catch (err) {
    return refusal(err, form);
  }
  revalidatePath("/admin/pools");
  return { status: "ok", message: `Removed the pool ${cidr}.` };
}
