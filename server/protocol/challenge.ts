import crypto from "node:crypto";

const CHALLENGE_BYTES = 16;
const HEX_32 = /^[0-9a-f]{32}$/i;

/** A fresh challenge for the greeting: 32 uppercase hex digits, as KAME dtcps sends. */
export function newChallenge(
  randomBytes: (n: number) => Buffer = crypto.randomBytes,
): string {
  return randomBytes(CHALLENGE_BYTES).toString("hex").toUpperCase();
}

/** The response a client must send: hex(MD5(user ‖ challenge ‖ password)), lowercase. */
export function tunnelResponse(user: string, challenge: string, password: string): string {
  return crypto
    .createHash("md5")
    .update(user + challenge + password) // a string is hashed as UTF-8
    .digest("hex");
}

/**
 * Whether the client's response equals the expected one, ignoring hex case
 * (KAME sends uppercase, the Python client lowercase). The shape check on
 * `given` only depends on what the client itself sent; the comparison against
 * the secret-derived value is constant time.
 */
export function responseMatches(expectedHex: string, given: string): boolean {
  if (!HEX_32.test(expectedHex)) {
    throw new RangeError("expected response must be 32 hex digits");
  }
  if (!HEX_32.test(given)) return false;
  return crypto.timingSafeEqual(Buffer.from(expectedHex, "hex"), Buffer.from(given, "hex"));
}
