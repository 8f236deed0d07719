import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { newChallenge, responseMatches, tunnelResponse } from "./challenge.ts";

// From the KAME dtcp sources.
const USER = "foo";
const CHALLENGE = "0B1517C87D516A5FA65BED722D51A04F";
const PASSWORD = "bar";
const RESPONSE = "DAC487C8DFBBF9EE5C7F8CDCC37B62A3";

describe("newChallenge", () => {
  it("is 16 random bytes as 32 uppercase hex digits", () => {
    const bytes = Buffer.from("0b1517c87d516a5fa65bed722d51a04f", "hex");
    let requested = 0;
    const challenge = newChallenge((n) => {
      requested = n;
      return bytes;
    });
    assert.equal(requested, 16);
    assert.equal(challenge, CHALLENGE);
  });

  it("uses the system CSPRNG by default", () => {
    const a = newChallenge();
    assert.match(a, /^[0-9A-F]{32}$/);
    assert.notEqual(a, newChallenge());
  });
});

describe("tunnelResponse", () => {
  it("matches the KAME test vector, in lowercase", () => {
    assert.equal(tunnelResponse(USER, CHALLENGE, PASSWORD), RESPONSE.toLowerCase());
  });

  it("hashes the password as UTF-8", () => {
    // MD5("u" + "C" + "pässwörd") with UTF-8 bytes for the umlauts.
    assert.equal(tunnelResponse("u", "C", "pässwörd"), "0fec5798423cad0f9e408843a082dede");
  });
});

describe("responseMatches", () => {
  const expected = tunnelResponse(USER, CHALLENGE, PASSWORD);

  it("accepts the KAME client's uppercase and the Python client's lowercase response", () => {
    assert.equal(responseMatches(expected, RESPONSE), true);
    assert.equal(responseMatches(expected, RESPONSE.toLowerCase()), true);
    assert.equal(responseMatches(expected, "dac487c8DFBBF9EE5C7F8CDCC37B62a3"), true);
  });

  it("rejects a response for another password or challenge", () => {
    assert.equal(responseMatches(expected, tunnelResponse(USER, CHALLENGE, "baz")), false);
    assert.equal(responseMatches(expected, tunnelResponse(USER, newChallenge(), PASSWORD)), false);
  });

  it("rejects anything that is not 32 hex digits", () => {
    for (const given of [
      "",
      RESPONSE.slice(0, 31),
      `${RESPONSE}0`,
      `${RESPONSE.slice(0, 31)}g`,
      ` ${RESPONSE.slice(1)}`,
      `${RESPONSE.slice(0, 30)}\r\n`,
      "DAC487C8DFBBF9EE5C7F8CDCC37B62Ä3",
    ]) {
      assert.equal(responseMatches(expected, given), false, JSON.stringify(given));
    }
  });

  it("refuses an expected value that is not a response (a server bug)", () => {
    // Refused by the check itself, not by what a comparison of unequal buffers happens to throw.
    for (const expectedHex of ["secret", "g".repeat(32), `${RESPONSE}00`]) {
      assert.throws(() => responseMatches(expectedHex, RESPONSE), { name: "RangeError", message: "expected response must be 32 hex digits" });
    }
  });

  it("never throws on arbitrary client input", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (given) => {
        assert.equal(responseMatches(expected, given), given.toLowerCase() === expected);
      }),
    );
  });
});
