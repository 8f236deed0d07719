import { z } from "zod";

import { ROLES, TRANSPORTS, TUNNEL_TYPES } from "../../domain/types.ts";

// DTCP splits on spaces and dtcpc.auth on ':', so names and passwords may hold neither.
export const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,31}$/;
export const userNameSchema = z
  .string()
  .regex(
    USER_NAME,
    "user names are 1–32 characters: lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
  );

export const tunnelPasswordSchema = z
  .string()
  .min(8, "a DTCP password has at least 8 characters")
  .max(128, "a DTCP password has at most 128 characters")
  .regex(/^[\x21-\x39\x3b-\x7e]+$/, "a DTCP password is printable ASCII without spaces or ':'");

function listOf<T extends string>(all: readonly [T, ...T[]], what: string) {
  return z
    .array(z.enum(all))
    .min(1, `allow at least one ${what}`)
    .transform((items) => all.filter((x) => items.includes(x)));
}

export const tunnelTypesSchema = listOf(TUNNEL_TYPES, "tunnel type");
export const transportsSchema = listOf(TRANSPORTS, "transport");
export const mtuSchema = z.number().int().min(1280, "IPv6 needs an MTU of at least 1280").max(1480, "the MTU cannot exceed 1480 inside IPv4");

export const newUserSchema = z.object({
  name: userNameSchema,
  role: z.enum(ROLES).default("user"),
  email: z.string().email("not an e-mail address").nullable().default(null),
  allowedTypes: tunnelTypesSchema.default([...TUNNEL_TYPES]),
  allowedTransports: transportsSchema.default([...TRANSPORTS]),
  mtu: mtuSchema.default(1280),
  tunnelPassword: tunnelPasswordSchema,
  /** The POP that serves the user, by name; may be left out while there is only one. */
  pop: z.string().optional(),
});
export type NewUser = z.input<typeof newUserSchema>;

/** What an administrator may change of an existing user's account and tunnels; omitted fields stay. */
export const userChangesSchema = z.object({
  email: z.string().email("not an e-mail address").nullable().optional(),
  allowedTypes: tunnelTypesSchema.optional(),
  allowedTransports: transportsSchema.optional(),
  mtu: mtuSchema.optional(),
  pop: z.string().trim().min(1, "choose a POP").optional(),
});
export type UserChanges = z.input<typeof userChangesSchema>;

/** Splits the comma lists stored in the database. */
export function parseList<T extends string>(stored: string, all: readonly T[]): T[] {
  return stored.split(",").filter((x): x is T => (all as readonly string[]).includes(x));
}
