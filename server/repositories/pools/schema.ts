import { z } from "zod";

export const POOL_PURPOSES = ["link", "delegation"] as const;
export type PoolPurpose = (typeof POOL_PURPOSES)[number];

/** Default sizes: /126 blocks hold one address pair; /56 is the usual residential delegation. */
export const DEFAULT_PREFIX_LENGTH: Record<PoolPurpose, number> = { link: 126, delegation: 56 };

export const newPoolSchema = z.object({
  cidr: z.string().trim().min(1, "enter a prefix such as 2001:db8::/48"),
  purpose: z.enum(POOL_PURPOSES, { message: "purpose is link or delegation" }),
  prefixLength: z.number().int("prefix length is a whole number").optional(),
  autoDelegate: z.boolean().default(false),
  /** The POP its prefixes are routed to, by name; may be left out while there is only one. */
  pop: z.string().optional(),
});
export type NewPool = z.input<typeof newPoolSchema>;
