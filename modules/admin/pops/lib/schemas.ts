import { z } from "zod";

/** The POP forms as they arrive: an empty address or URL means none; the repository checks each value. */
const optional = z
  .string()
  .trim()
  .transform((v) => (v === "" ? null : v));

export const addPopForm = z.object({ name: z.string().trim().min(1, "enter a name such as paris"), publicHost: optional, apiUrl: optional });
export const editPopForm = z.object({ name: z.string().trim().min(1), publicHost: optional, apiUrl: optional });
export const popNameForm = z.object({ name: z.string().trim().min(1) });

export function popInput(form: FormData) {
  return { name: form.get("name") ?? "", publicHost: form.get("publicHost") ?? "", apiUrl: form.get("apiUrl") ?? "" };
}
