import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { SecretKeyError } from "../secrets/key-file.ts";
import { CLOCK_SKEW_S, mintToken, verifyToken } from "./token.ts";

const SID = "ab".repeat(32);

const KEY = Buffer.alloc(32, 1);
const NOW = 1_800_000_000;

const userName = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,31}$/);
const role = fc.constantFrom("admin" as const, "user" as const);
const ttl = fc.integer({ min: 1, max: 3600 });
const now = fc.integer({ min: 0, max: 4_000_000_000 });
const BASE64URL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** A token over any payload, signed the way the daemon checks. */
function signed(payload: unknown, key = KEY): string {
  const body = Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload), "utf8").toString("base64url");
  return `${body}.${createHmac("sha256", key).update(body).digest("base64url")}`;
}

/** The token with the character at `index` replaced by a different base64url character. */
function withCharReplaced(token: string, index: number, pick: number): string {
  const old = token[index]!;
  const others = BASE64URL_CHARS.replace(old, "");
  return token.slice(0, index) + others[pick % others.length] + token.slice(index + 1);
}

describe("live API tokens", () => {
  it("verify within their lifetime and give back who minted them for", () => {
    fc.assert(
      fc.property(userName, role, ttl, now, fc.integer({ min: 0, max: 3600 + CLOCK_SKEW_S }), (sub, r, t, minted, later) => {
        fc.pre(later <= t + CLOCK_SKEW_S);
        const check = verifyToken(KEY, mintToken(KEY, { sub, role: r, sid: SID, pop: "default" }, t, minted), minted + later);
        assert.deepEqual(check, { ok: true, claims: { sub, role: r, sid: SID, pop: "default", exp: minted + t, scope: "live" } });
      }),
    );
  });

  it("are compact base64url JSON signed with HMAC-SHA256", () => {
    const token = mintToken(KEY, { sub: "alice", role: "admin", sid: SID, pop: "default" }, 60, NOW);
    assert.equal(token, signed({ sub: "alice", role: "admin", sid: SID, pop: "default", exp: NOW + 60, scope: "live" }));
  });

  it("are refused once expired, with 5 s allowed for clock skew", () => {
    const token = mintToken(KEY, { sub: "alice", role: "user", sid: SID, pop: "default" }, 60, NOW);
    assert.equal(verifyToken(KEY, token, NOW + 60 + 5).ok, true);
    assert.deepEqual(verifyToken(KEY, token, NOW + 60 + 6), { ok: false, reason: "expired" });
    fc.assert(
      fc.property(ttl, now, fc.integer({ min: CLOCK_SKEW_S + 1, max: 1e9 }), (t, minted, late) => {
        assert.deepEqual(verifyToken(KEY, mintToken(KEY, { sub: "bob", role: "admin", sid: SID, pop: "default" }, t, minted), minted + t + late), { ok: false, reason: "expired" });
      }),
    );
  });

  it("are refused when any character of the payload or the signature changes", () => {
    fc.assert(
      fc.property(userName, role, fc.nat(), fc.nat(), (sub, r, position, pick) => {
        const token = mintToken(KEY, { sub, role: r, sid: SID, pop: "default" }, 60, NOW);
        let index = position % token.length;
        if (token[index] === ".") index++;
        assert.deepEqual(verifyToken(KEY, withCharReplaced(token, index, pick), NOW), { ok: false, reason: "bad-signature" });
      }),
    );
  });

  it("cannot be lifted to admin or lengthened without the key", () => {
    const token = mintToken(KEY, { sub: "mallory", role: "user", sid: SID, pop: "default" }, 60, NOW);
    const signature = token.split(".")[1]!;
    const forged = Buffer.from(JSON.stringify({ sub: "mallory", role: "admin", sid: SID, exp: NOW + 60, scope: "live" })).toString("base64url");
    assert.deepEqual(verifyToken(KEY, `${forged}.${signature}`, NOW), { ok: false, reason: "bad-signature" });
  });

  it("are refused under another key", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (other) => {
        fc.pre(!Buffer.from(other).equals(KEY));
        const token = mintToken(Buffer.from(other), { sub: "alice", role: "admin", sid: SID, pop: "default" }, 60, NOW);
        assert.deepEqual(verifyToken(KEY, token, NOW), { ok: false, reason: "bad-signature" });
      }),
    );
  });

  it("of another scope are refused", () => {
    for (const scope of ["admin", "LIVE", "live ", ""]) {
      assert.deepEqual(verifyToken(KEY, signed({ sub: "alice", role: "admin", sid: SID, pop: "default", exp: NOW + 60, scope }), NOW), { ok: false, reason: "wrong-scope" });
    }
  });

  it("refuse malformed strings and signed payloads that are not claims", () => {
    const cases = [
      "",
      ".",
      "abc",
      "a.b.c",
      `${mintToken(KEY, { sub: "alice", role: "admin", sid: SID, pop: "default" }, 60, NOW)}.`,
      `.${mintToken(KEY, { sub: "alice", role: "admin", sid: SID, pop: "default" }, 60, NOW).split(".")[1]}`,
      "eyJ9+.abc/",
      "dtcp-live",
      "x".repeat(2000) + "." + "y".repeat(43),
    ];
    for (const token of cases) assert.deepEqual(verifyToken(KEY, token, NOW), { ok: false, reason: "malformed" }, JSON.stringify(token));

    const claims = { sub: "alice", role: "admin", sid: SID, pop: "default", exp: NOW + 60, scope: "live" };
    const notClaims = [
      "not json",
      "[]",
      "null",
      { ...claims, sub: undefined },
      { ...claims, sub: "Alice" },
      { ...claims, sub: "al ice" },
      { ...claims, role: "root" },
      { ...claims, exp: "2000000000" },
      { ...claims, exp: NOW + 0.5 },
      { ...claims, pop: undefined },
      { ...claims, pop: "Paris" },
      { ...claims, scope: undefined },
    ];
    for (const payload of notClaims) assert.deepEqual(verifyToken(KEY, signed(payload), NOW), { ok: false, reason: "malformed" }, JSON.stringify(payload));
  });

  it("never accept arbitrary strings", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,50}$/)), (token) => {
        const check = verifyToken(KEY, token, NOW);
        assert.equal(check.ok, false);
      }),
    );
  });

  it("need a 32-byte key and a lifetime of whole seconds", () => {
    assert.throws(() => mintToken(Buffer.alloc(16), { sub: "alice", role: "admin", sid: SID, pop: "default" }), SecretKeyError);
    assert.throws(() => verifyToken(Buffer.alloc(31), "a.b"), SecretKeyError);
    assert.throws(() => mintToken(KEY, { sub: "alice", role: "admin", sid: SID, pop: "default" }, 0), RangeError);
    assert.throws(() => mintToken(KEY, { sub: "alice", role: "admin", sid: SID, pop: "default" }, 1.5), RangeError);
  });
});
