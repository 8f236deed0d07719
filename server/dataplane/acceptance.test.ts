import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EMPTY, FOREIGN, FORWARD, judge, KEEPALIVE, LINK_LOCAL, MALFORMED, OWNED, SourceFilter, type SourceClass } from "./acceptance.ts";
import { DROP_REASONS, DROPS } from "./counters.ts";
import { addressPrefix, cidrPrefix } from "./packet.ts";
import { ipv6Packet } from "../../test/support/packets.ts";

const CLASS_NAMES = ["owned", "linkLocal", "foreign", "empty", "malformed"] as const;

function classOf(filter: SourceFilter, packet: Buffer): string {
  // Put the packet at an offset inside a bigger buffer, as in a batch.
  const buf = Buffer.concat([Buffer.alloc(100, 0xaa), packet, Buffer.alloc(10, 0xbb)]);
  return CLASS_NAMES[filter.classify(buf, 100, packet.length)];
}
const from = (src: string): Buffer => ipv6Packet(src, "2001:db8:ffff::1");

describe("SourceFilter", () => {
  test("host: its address only, plus link-local", () => {
    const f = new SourceFilter([addressPrefix("2001:db8:1::2")]);
    assert.equal(classOf(f, from("2001:db8:1::2")), "owned");
    assert.equal(classOf(f, from("2001:db8:1::3")), "foreign");
    assert.equal(classOf(f, from("2001:db8:1::1")), "foreign", "the server's end of the link is not the client's");
    assert.equal(classOf(f, from("fe80::1")), "linkLocal");
    assert.equal(classOf(f, from("::")), "foreign");
  });

  test("network: anything inside the prefix, nothing next to it", () => {
    const f = new SourceFilter([cidrPrefix("2001:db8:100:100::/56")]);
    assert.equal(classOf(f, from("2001:db8:100:100::1")), "owned");
    assert.equal(classOf(f, from("2001:db8:100:1ff:ffff:ffff:ffff:ffff")), "owned");
    assert.equal(classOf(f, from("2001:db8:100:200::")), "foreign");
    assert.equal(classOf(f, from("2001:db8:100:ff:ffff:ffff:ffff:ffff")), "foreign");
    assert.equal(classOf(f, from("fe80::1:2")), "linkLocal");
  });

  test("an address and a prefix together", () => {
    const f = new SourceFilter([addressPrefix("2001:db8:1::2"), cidrPrefix("2001:db8:200::/48")]);
    assert.equal(classOf(f, from("2001:db8:1::2")), "owned");
    assert.equal(classOf(f, from("2001:db8:200:5::9")), "owned");
    assert.equal(classOf(f, from("2001:db8:1::4")), "foreign");
  });

  test("tunnelonly owns nothing: only link-local passes", () => {
    const f = new SourceFilter([]);
    assert.equal(classOf(f, from("fe80::1")), "linkLocal");
    assert.equal(classOf(f, from("2001:db8:1::2")), "foreign");
  });

  test("empty and malformed come before the source", () => {
    const f = new SourceFilter([addressPrefix("2001:db8:1::2")]);
    assert.equal(classOf(f, Buffer.alloc(0)), "empty");
    assert.equal(classOf(f, from("2001:db8:1::2").subarray(0, 39)), "malformed");
    const v4 = Buffer.from(from("2001:db8:1::2"));
    v4[0] = 0x45;
    assert.equal(classOf(f, v4), "malformed");
  });

  test("more than an address and a prefix is refused", () => {
    assert.throws(() => new SourceFilter([addressPrefix("::1"), addressPrefix("::2"), addressPrefix("::3")]), RangeError);
  });
});

describe("judge", () => {
  const CLIENT = 0x0a000001;
  const STRANGER = 0x0a000063;
  const NAT_POOL_PEER = 0x0a000002;
  const name = (v: number): string => (v === FORWARD ? "forward" : v === KEEPALIVE ? "keepalive" : DROP_REASONS[v - DROPS]!);
  const classes: SourceClass[] = [OWNED, LINK_LOCAL, FOREIGN, EMPTY, MALFORMED];
  const verdicts = (strict: boolean, outer: number, bindingAddress: number): Record<string, string> =>
    Object.fromEntries(classes.map((c) => [CLASS_NAMES[c], name(judge({ clientIpv4: CLIENT, bindingAddress }, strict, outer, c))]));

  test("strict, from the control connection's address: the inner source decides", () => {
    for (const binding of [-1, CLIENT, NAT_POOL_PEER]) {
      assert.deepEqual(verdicts(true, CLIENT, binding), {
        owned: "forward",
        linkLocal: "forward",
        foreign: "spoofedSource",
        empty: "keepalive",
        malformed: "malformed",
      });
    }
  });

  test("strict, from any other address: wrong outer source, whatever it carries", () => {
    for (const binding of [-1, CLIENT, STRANGER]) {
      assert.deepEqual(verdicts(true, STRANGER, binding), {
        owned: "wrongOuterSource",
        linkLocal: "wrongOuterSource",
        foreign: "wrongOuterSource",
        empty: "wrongOuterSource",
        malformed: "wrongOuterSource",
      });
    }
  });

  test("relaxed, from the control connection's address: as strict", () => {
    assert.deepEqual(verdicts(false, CLIENT, -1), verdicts(true, CLIENT, -1));
  });

  test("relaxed, from another address: only an owned source may establish or move the binding", () => {
    assert.deepEqual(verdicts(false, NAT_POOL_PEER, -1), {
      owned: "forward",
      linkLocal: "wrongOuterSource",
      foreign: "spoofedSource",
      empty: "wrongOuterSource",
      malformed: "malformed",
    });
    assert.deepEqual(verdicts(false, NAT_POOL_PEER, CLIENT), verdicts(false, NAT_POOL_PEER, -1));
  });

  test("relaxed, from the current binding's address: keepalives and link-local pass too", () => {
    assert.deepEqual(verdicts(false, NAT_POOL_PEER, NAT_POOL_PEER), {
      owned: "forward",
      linkLocal: "forward",
      foreign: "spoofedSource",
      empty: "keepalive",
      malformed: "malformed",
    });
  });
});
