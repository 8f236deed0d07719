import { createHash, randomBytes } from "node:crypto";

/** SHA-256 (hex) of a bearer token: what the database keeps instead of the token. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** A fresh bearer token (32 random bytes, base64url) and its hash. */
export function newToken(random: (n: number) => Buffer = randomBytes): { token: string; hash: string } {
  const token = random(32).toString("base64url");
  return { token, hash: hashToken(token) };
}
