import { ROLES, TRANSPORTS, TUNNEL_TYPES } from "@/server/domain/types.ts";
import { z } from "zod";
import { mtuSchema, userNameSchema } from "@/server/repositories/users/schema.ts";
import { webPasswordSchema } from "@/server/secrets/web-password.ts";

/** A user name field: the repository checks its form; this only shapes it. */
export const nameField = z.string().trim().min(1, "enter a user name");

/**
 * The create-user form, checked with the repository's own rules for each value, so that every wrong
 * field shows at once rather than one per submit (the repository checks them again).
 */
export const createUserForm = z.object({
  name: z.string().trim().pipe(userNameSchema),
  email: z
    .string()
    .trim()
    .transform((v) => (v === "" ? null : v)),
  role: z.enum(ROLES, { message: "choose admin or user" }),
  allowedTypes: z.array(z.enum(TUNNEL_TYPES)).min(1, "allow at least one tunnel type"),
  allowedTransports: z.array(z.enum(TRANSPORTS)).min(1, "allow at least one transport"),
  mtu: z.coerce.number({ message: "the MTU is a number" }).int("the MTU is a whole number").pipe(mtuSchema),
  /** Empty: one is generated. */
  webPassword: z.literal("").or(webPasswordSchema),
  /** Sent only when there are several POPs; the repository checks that it names one. */
  pop: z.string().optional(),
});

/** An existing user's e-mail and tunnel settings, as the edit form sends them (all of them). */
export const editUserForm = createUserForm.pick({ name: true, email: true, allowedTypes: true, allowedTransports: true, mtu: true });

/** The edit form's fields, read from the submitted form data. */
export function editUserInput(form: FormData) {
  const { name, email, allowedTypes, allowedTransports, mtu } = createUserInput(form);
  return { name, email, allowedTypes, allowedTransports, mtu };
}

/** Moving a user to another POP. */
export const moveUserForm = z.object({ name: nameField, pop: z.string().trim().min(1, "choose a POP") });

/** Reset of someone's web password by an administrator: typed, or generated when left empty. */
export const resetWebPasswordForm = z.object({ name: nameField, webPassword: z.string() });

export const userNameForm = z.object({ name: nameField });

/** The create-user form's fields, read from the submitted form data. */
export function createUserInput(form: FormData) {
  return {
    name: form.get("name"),
    email: form.get("email") ?? "",
    role: form.get("role"),
    allowedTypes: form.getAll("allowedTypes"),
    allowedTransports: form.getAll("allowedTransports"),
    mtu: form.get("mtu"),
    webPassword: form.get("webPassword") ?? "",
    pop: typeof form.get("pop") === "string" ? form.get("pop") : undefined,
  };
}
