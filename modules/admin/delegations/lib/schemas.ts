import { z } from "zod";

export const delegateForm = z.object({
  user: z.string().trim().min(1, "choose a user"),
  /** Empty: the first delegation pool with room. */
  pool: z
    .string()
    .trim()
    .transform((v) => (v === "" ? undefined : v)),
});

export const releaseForm = z.object({
  user: z.string().trim().min(1),
  prefix: z.string().trim().min(1),
});
