// Tokens of the live-session API. The web app (which signs users in) mints one for a viewer just
// before it opens the WebSocket; the daemon checks it at connect time only. Both read the same
// 32-byte key file (Paths.apiKeyFile).
//
//   token = base64url(JSON {sub, role, sid, pop, exp, scope}) "." base64url(HMAC-SHA256(key, first part))
//
// Every POP's daemon shares the key, so a token names the POP it was minted for and only that
// POP's daemon takes it: one that reaches another POP (or anyone on the path to it) cannot be
// replayed at the rest.

import { type Role, ROLES } from "../domain/types.ts";
import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { userNameSchema } from "../repositories/users/schema.ts";
import { popNameSchema } from "../repositories/pops/schema.ts";
import { KEY_BYTES, loadOrCreateKeyFile, SecretKeyError } from "../secrets/key-file.ts";

export const LIVE_SCOPE = "live";
/** Minted tokens live this long by default: enough to open a connection, which then stays. */
export const DEFAULT_TOKEN_TTL_S = 60;
/** Clock difference tolerated between the web app that mints and the daemon that verifies. */
export const CLOCK_SKEW_S = 5;
// Far longer than any well-formed token; longer strings are refused before any hashing.
const MAX_TOKEN_CHARS = 1024;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export interface TokenClaims {
  /** The viewer's user name. */
  sub: string;
  role: Role;
  /** The web sign-in (WebSession id) the token was minted for: the daemon keeps checking it stands. */
  sid: string;
  /** The POP whose daemon this token opens; the others refuse it. */
  pop: string;
  /** Epoch seconds after which the token no longer opens a connection. */
  exp: number;
  scope: typeof LIVE_SCOPE;
}

export type TokenRefusal = "malformed" | "bad-signature" | "expired" | "wrong-scope";
export type TokenCheck = { ok: true; claims: TokenClaims } | { ok: false; reason: TokenRefusal };

const claimsSchema = z.object({
  sub: userNameSchema,
  role: z.enum(ROLES),
  sid: z.string().regex(/^[0-9a-f]{64}$/),
  pop: popNameSchema,
  exp: z.number().int().nonnegative(),
  scope: z.string(),
});

/** The API key: created (0600, 32 random bytes) by whichever of the daemon and the web app starts first. */
export const loadOrCreateApiKey = loadOrCreateKeyFile;

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export function mintToken(key: Buffer, viewer: { sub: string; role: Role; sid: string; pop: string }, ttlSeconds = DEFAULT_TOKEN_TTL_S, now = nowSeconds()): string {
  checkKey(key);
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) throw new RangeError(`a token lifetime is a positive whole number of seconds; got ${ttlSeconds}`);
  const claims: TokenClaims = { sub: viewer.sub, role: viewer.role, sid: viewer.sid, pop: viewer.pop, exp: now + ttlSeconds, scope: LIVE_SCOPE };
  const payload = Buffer.from(JSON.stringify(claims), "utf8").toString("base64url");
  return `${payload}.${sign(key, payload)}`;
}

/** Checks a token: shape, then signature (constant time), and only then its contents. */
export function verifyToken(key: Buffer, token: string, now = nowSeconds()): TokenCheck {
  checkKey(key);
  const parts = token.length <= MAX_TOKEN_CHARS ? token.split(".") : [];
  const [payload, signature] = parts;
  if (parts.length !== 2 || payload === undefined || signature === undefined || !BASE64URL.test(payload) || !BASE64URL.test(signature)) {
    return { ok: false, reason: "malformed" };
  }
  // Compared as text, so a signature in a non-canonical base64url spelling does not pass either.
  const expected = Buffer.from(sign(key, payload), "latin1");
  const given = Buffer.from(signature, "latin1");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: "bad-signature" };

  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const parsed = claimsSchema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: "malformed" };
  const { sub, role, sid, pop, exp, scope } = parsed.data;
  if (scope !== LIVE_SCOPE) return { ok: false, reason: "wrong-scope" };
  if (now > exp + CLOCK_SKEW_S) return { ok: false, reason: "expired" };
  return { ok: true, claims: { sub, role, sid, pop, exp, scope } };
}

function sign(key: Buffer, payload: string): string {
  return createHmac("sha256", key).update(payload, "latin1").digest("base64url");
}

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new SecretKeyError(`an API key is ${KEY_BYTES} bytes`);
}
