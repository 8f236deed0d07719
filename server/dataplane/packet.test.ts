import assert from "node:assert/strict";
import { test } from "node:test";
import { addressPrefix, cidrPrefix, isIpv6Packet, isLinkLocalAt, wordAt, wordMask } from "./packet.ts";
import { ipv6Packet } from "../../test/support/packets.ts";

test("isIpv6Packet checks version, header length and announced payload, at any offset", () => {
  const p = ipv6Packet("2001:db8::1", "2001:db8::2", Buffer.from("abcd"));
  const buf = Buffer.concat([Buffer.from([0xff, 0xff, 0xff]), p, Buffer.from([0xee])]);
  assert.equal(isIpv6Packet(buf, 3, p.length), true);
  assert.equal(isIpv6Packet(buf, 3, p.length + 1), true, "trailing bytes are tolerated");
  assert.equal(isIpv6Packet(buf, 3, p.length - 1), false, "payload cut short");
  assert.equal(isIpv6Packet(buf, 3, 39), false, "header cut short");
  assert.equal(isIpv6Packet(buf, 0, p.length), false, "wrong offset");
  assert.equal(isIpv6Packet(ipv6Packet("::1", "::2"), 0, 40), true, "a bare header");
  const v4 = Buffer.from(p);
  v4[0] = 0x45;
  assert.equal(isIpv6Packet(v4, 0, v4.length), false, "IPv4");
  assert.equal(isIpv6Packet(Buffer.alloc(0), 0, 0), false);
});

test("wordAt reads big-endian unsigned words", () => {
  const b = Buffer.from([0, 0xff, 0xfe, 0x80, 0x00, 0x01, 0x02]);
  assert.equal(wordAt(b, 1), 0xfffe8000);
  assert.equal(wordAt(b, 3), 0x80000102);
});

test("isLinkLocalAt is fe80::/10 exactly", () => {
  const at = (text: string): boolean => isLinkLocalAt(ipv6Packet(text, "::"), 8);
  assert.equal(at("fe80::1"), true);
  assert.equal(at("febf:ffff::1"), true);
  assert.equal(at("fec0::1"), false);
  assert.equal(at("fe7f::1"), false);
  assert.equal(at("2001:db8::1"), false);
});

test("wordMask covers each word of every prefix length", () => {
  assert.deepEqual([0, 1, 2, 3].map((i) => wordMask(0, i)), [0, 0, 0, 0]);
  assert.deepEqual([0, 1, 2, 3].map((i) => wordMask(48, i)), [0xffffffff, 0xffff0000, 0, 0]);
  assert.deepEqual([0, 1, 2, 3].map((i) => wordMask(56, i)), [0xffffffff, 0xffffff00, 0, 0]);
  assert.deepEqual([0, 1, 2, 3].map((i) => wordMask(65, i)), [0xffffffff, 0xffffffff, 0x80000000, 0]);
  assert.deepEqual([0, 1, 2, 3].map((i) => wordMask(128, i)), [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]);
  for (let len = 0; len <= 128; len++) {
    const bits = [0, 1, 2, 3].reduce((n, i) => n + wordMask(len, i).toString(2).replace(/0/g, "").length, 0);
    assert.equal(bits, len);
  }
});

test("addresses and prefixes become words", () => {
  assert.deepEqual(addressPrefix("2001:db8::1"), { words: [0x20010db8, 0, 0, 1], length: 128 });
  assert.deepEqual(cidrPrefix("2001:db8:100::/40"), { words: [0x20010db8, 0x01000000, 0, 0], length: 40 });
  assert.throws(() => cidrPrefix("2001:db8::1/64"), /host bits/);
  assert.throws(() => addressPrefix("10.0.0.1"));
});
