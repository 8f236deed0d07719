import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { base32Decode, base32Encode, groupSecret, hotp, matchTotp, newTotpSecret, otpauthUri, timeStep, totp } from "./totp.ts";

// RFC 4226 appendix D and RFC 6238 appendix B share this SHA-1 key.
const RFC_KEY = Buffer.from("12345678901234567890", "ascii");

test("HOTP: the RFC 4226 test values", () => {
  const expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
  expected.forEach((code, counter) => assert.equal(hotp(RFC_KEY, counter), code, `counter ${counter}`));
});

test("TOTP: the RFC 6238 SHA-1 test values (8 digits)", () => {
  const vectors: [number, string][] = [
    [59, "94287082"],
    [1111111109, "07081804"],
    [1111111111, "14050471"],
    [1234567890, "89005924"],
    [2000000000, "69279037"],
    [20000000000, "65353130"],
  ];
  for (const [time, code] of vectors) assert.equal(totp(RFC_KEY, time, 8), code, `T=${time}`);
  // Six digits are the last six of the eight.
  assert.equal(totp(RFC_KEY, 59), "287082");
  assert.equal(timeStep(59), 1);
  assert.equal(timeStep(60), 2);
});

test("base32: RFC 4648 test vectors, without padding, and round trips", () => {
  const vectors: [string, string][] = [
    ["", ""],
    ["f", "MY"],
    ["fo", "MZXQ"],
    ["foo", "MZXW6"],
    ["foob", "MZXW6YQ"],
    ["fooba", "MZXW6YTB"],
    ["foobar", "MZXW6YTBOI"],
  ];
  for (const [plain, encoded] of vectors) {
    assert.equal(base32Encode(Buffer.from(plain)), encoded);
    assert.equal(base32Decode(encoded).toString(), plain);
  }
  assert.equal(base32Decode("mzxw 6ytb-oi==").toString(), "foobar");
  assert.throws(() => base32Decode("MZ1"), RangeError);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => assert.deepEqual(base32Decode(base32Encode(bytes)), Buffer.from(bytes))));
});

test("matching a code: the current step and one either side, nothing further, only six digits", () => {
  const now = 1_800_000_015;
  const step = timeStep(now);
  assert.equal(matchTotp(RFC_KEY, totp(RFC_KEY, now), now), step);
  assert.equal(matchTotp(RFC_KEY, totp(RFC_KEY, now - 30), now), step - 1);
  assert.equal(matchTotp(RFC_KEY, totp(RFC_KEY, now + 30), now), step + 1);
  assert.equal(matchTotp(RFC_KEY, totp(RFC_KEY, now - 60), now), null);
  assert.equal(matchTotp(RFC_KEY, totp(RFC_KEY, now + 60), now), null);
  const code = totp(RFC_KEY, now);
  assert.equal(matchTotp(RFC_KEY, `${code.slice(0, 3)} ${code.slice(3)}`, now), step, "spaces are ignored");
  assert.equal(matchTotp(RFC_KEY, "12345", now), null);
  assert.equal(matchTotp(RFC_KEY, "abcdef", now), null);
  assert.equal(matchTotp(RFC_KEY, `${code}0`, now), null);
});

test("secrets are 160 bits of base32; the URI carries what apps need", () => {
  const secret = newTotpSecret();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.equal(base32Decode(secret).length, 20);
  assert.equal(groupSecret("ABCDEFGHIJ"), "ABCD EFGH IJ");
  const text = otpauthUri("JBSWY3DPEHPK3PXP", "alice", "Tunnel broker");
  assert.ok(text.startsWith("otpauth://totp/Tunnel%20broker:alice?"), text);
  const uri = new URL(text);
  assert.equal(uri.searchParams.get("secret"), "JBSWY3DPEHPK3PXP");
  assert.equal(uri.searchParams.get("issuer"), "Tunnel broker");
  assert.equal(uri.searchParams.get("digits"), "6");
  assert.equal(uri.searchParams.get("period"), "30");
  assert.equal(uri.searchParams.get("algorithm"), "SHA1");
});
