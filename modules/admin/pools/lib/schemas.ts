import { z } from "zod";
import { POOL_PURPOSES } from "@/server/repositories/pools/schema.ts";

/** The add-pool form as it arrives; the repository checks the prefix, the size and overlaps. */
export const addPoolForm = z.object({
  cidr: z.string().trim().min(1, "enter a prefix such as 2001:db8::/48"),
  purpose: z.enum(POOL_PURPOSES, { message: "choose link or delegation" }),
  prefixLength: z
    .string()
    .trim()
    .transform((v, ctx) => {
      if (v === "") return undefined;
      const n = Number(v.replace(/^\//, ""));
      if (!Number.isInteger(n) || n < 0 || n > 128) {
        ctx.addIssue({ code: "custom", message: "a prefix length is a whole number from 0 to 128" });
        return z.NEVER;
      }
      return n;
    }),
  autoDelegate: z.boolean(),
  /** Sent only when there are several POPs; the repository checks that it names one. */
  pop: z.string().optional(),
});

export function addPoolInput(form: FormData) {
  return {
    cidr: form.get("cidr") ?? "",
    purpose: form.get("purpose"),
    prefixLength: form.get("prefixLength") ?? "",
    autoDelegate: form.get("autoDelegate") === "on",
    pop: typeof form.get("pop") === "string" ? form.get("pop") : undefined,
  };
}

/** Share of a pool handed out, in percent (capacity can exceed 2^53). */
export function utilisation(used: number, capacity: bigint): number {
  if (capacity === 0n) return 100;
  return Number((BigInt(used) * 10_000n) / capacity) / 100;
}
