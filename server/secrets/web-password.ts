import { randomBytes } from "node:crypto";
import argon2 from "argon2";
import { z } from "zod";

// Web passwords are only ever verified, never recovered: argon2id with the library's defaults
// (64 MiB, 3 passes), which OWASP lists as sufficient.
export const webPasswordSchema = z
  .string()
  .min(12, "a web password has at least 12 characters")
  .max(256, "a web password has at most 256 characters");

export function hashWebPassword(password: string): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id });
}

// Verifying against this when the user does not exist keeps the answer time the same.
let dummyHash: Promise<string> | undefined;

/** True when `password` matches `hash`; with a null hash, spends the same time and answers false. */
export async function verifyWebPassword(hash: string | null, password: string): Promise<boolean> {
  if (hash === null) {
    await argon2.verify(await (dummyHash ??= hashWebPassword(randomBytes(16).toString("hex"))), password);
    return false;
  }
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

/** A generated web password to hand over once: 20 characters of base64url (120 bits). */
export function generateWebPassword(random: (n: number) => Buffer = randomBytes): string {
  return random(15).toString("base64url");
}
