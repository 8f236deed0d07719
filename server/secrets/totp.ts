// One-time passwords for the web sign-in's second factor: HOTP (RFC 4226) and TOTP (RFC 6238) with
// HMAC-SHA-1, 30-second steps and 6 digits, the settings every authenticator app uses by default.
// Pure: no I/O, the clock is a parameter.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const TOTP_STEP_S = 30;
export const TOTP_DIGITS = 6;
/** Codes of the step before and after the current one pass too: clocks drift and people type slowly. */
export const TOTP_WINDOW = 1;
/** 160 bits, the size RFC 4226 recommends for HMAC-SHA-1. */
export const TOTP_SECRET_BYTES = 20;

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32, upper case, without padding (as otpauth:// URIs carry it). */
export function base32Encode(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** Base32 as people copy it: any case, spaces, dashes and padding ignored. Throws on other characters. */
export function base32Decode(text: string): Buffer {
  const clean = text.toUpperCase().replace(/[\s=-]/g, "");
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new RangeError(`"${char}" is not a base32 character`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  return Buffer.from(out);
}

/** RFC 4226: the HOTP value of `counter` under `key`, `digits` long (zero-padded). */
export function hotp(key: Uint8Array, counter: number, digits = TOTP_DIGITS): string {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError(`a HOTP counter is a non-negative integer; got ${counter}`);
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac("sha1", key).update(message).digest();
  // Dynamic truncation: the low nibble of the last byte picks 4 bytes; the top bit is dropped.
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, "0");
}

/** The TOTP time step of an instant given in epoch seconds. */
export function timeStep(epochSeconds: number, stepSeconds = TOTP_STEP_S): number {
  return Math.floor(epochSeconds / stepSeconds);
}

/** RFC 6238: the TOTP value at `epochSeconds`. */
export function totp(key: Uint8Array, epochSeconds: number, digits = TOTP_DIGITS, stepSeconds = TOTP_STEP_S): string {
  return hotp(key, timeStep(epochSeconds, stepSeconds), digits);
}

/**
 * The time step whose code `code` is, within `window` steps of now; null when none matches.
 * The caller refuses a step it has already accepted once (a code is good for one sign-in).
 */
export function matchTotp(key: Uint8Array, code: string, epochSeconds: number, window = TOTP_WINDOW): number | null {
  const given = code.replace(/\s/g, "");
  if (!/^\d{6}$/.test(given)) return null;
  const now = timeStep(epochSeconds);
  let matched: number | null = null;
  // Every candidate is computed and compared in constant time, so timing does not tell which one matched.
  for (let step = now - window; step <= now + window; step++) {
    if (step < 0) continue;
    const expected = Buffer.from(hotp(key, step), "latin1");
    if (timingSafeEqual(expected, Buffer.from(given, "latin1")) && matched === null) matched = step;
  }
  return matched;
}

export function newTotpSecret(random: (n: number) => Buffer = randomBytes): string {
  return base32Encode(random(TOTP_SECRET_BYTES));
}

/** The Key URI authenticator apps scan: otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30 */
export function otpauthUri(secretBase32: string, account: string, issuer: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = new URLSearchParams({ secret: secretBase32, issuer, algorithm: "SHA1", digits: String(TOTP_DIGITS), period: String(TOTP_STEP_S) });
  return `otpauth://totp/${label}?${query.toString()}`;
}

/** Groups of four, as the secret is shown for typing it in by hand. */
export function groupSecret(secretBase32: string): string {
  return secretBase32.replace(/(.{4})(?=.)/g, "$1 ");
}
