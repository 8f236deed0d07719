import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { addressPrefix, cidrPrefix, wordMask, type WordPrefix } from "./packet.ts";
import { RouteTable } from "./route-table.ts";
import { ipv6Packet } from "../../test/support/packets.ts";

const lookup = (t: RouteTable, address: string): number => t.lookup(ipv6Packet("::", address), 24);

test("an exact /128 matches only its address", () => {
  const t = new RouteTable();
  t.add(addressPrefix("2001:db8:ffff::2"), 7);
  assert.equal(lookup(t, "2001:db8:ffff::2"), 7);
  assert.equal(lookup(t, "2001:db8:ffff::3"), -1);
  assert.equal(lookup(t, "2001:db8:ffff::"), -1);
});

test("overlapping prefixes: the longest wins, and removal uncovers the shorter", () => {
  const t = new RouteTable();
  t.add(cidrPrefix("2001:db8::/32"), 1);
  t.add(cidrPrefix("2001:db8:100::/48"), 2);
  t.add(cidrPrefix("2001:db8:100:100::/56"), 3);
  t.add(addressPrefix("2001:db8:100:100::1"), 4);
  assert.equal(lookup(t, "2001:db8:100:100::1"), 4);
  assert.equal(lookup(t, "2001:db8:100:1ff::1"), 3);
  assert.equal(lookup(t, "2001:db8:100:200::1"), 2);
  assert.equal(lookup(t, "2001:db8:200::1"), 1);
  assert.equal(lookup(t, "2001:db9::1"), -1);
  assert.equal(t.remove(addressPrefix("2001:db8:100:100::1")), true);
  assert.equal(lookup(t, "2001:db8:100:100::1"), 3);
  assert.equal(t.remove(cidrPrefix("2001:db8:100:100::/56")), true);
  assert.equal(lookup(t, "2001:db8:100:100::1"), 2);
  assert.equal(t.remove(cidrPrefix("2001:db8:100:100::/56")), false, "already gone");
  assert.equal(t.size, 2);
});

test("a default route and an odd length", () => {
  const t = new RouteTable();
  t.add(cidrPrefix("::/0"), 0);
  t.add(cidrPrefix("2001:db8:8000::/33"), 5);
  assert.equal(lookup(t, "2001:db8:8000::1"), 5);
  assert.equal(lookup(t, "2001:db8:7fff::1"), 0);
  assert.equal(lookup(t, "::1"), 0);
});

test("a duplicate route is refused; get() sees exact entries only", () => {
  const t = new RouteTable();
  t.add(cidrPrefix("2001:db8:100::/48"), 1);
  assert.throws(() => t.add(cidrPrefix("2001:db8:100::/48"), 2), /duplicate/);
  assert.equal(t.get(cidrPrefix("2001:db8:100::/48")), 1);
  assert.equal(t.get(cidrPrefix("2001:db8:100::/56")), -1);
  assert.equal(t.get(cidrPrefix("2001:db8::/32")), -1);
  assert.throws(() => t.add(cidrPrefix("2001:db8::/32"), -1), RangeError);
});

// Reference: a linear scan over the live prefixes.
function naiveLookup(live: Map<string, { p: WordPrefix; v: number }>, a: readonly number[]): number {
  let best = -1;
  let bestLen = -1;
  for (const { p, v } of live.values()) {
    const hit = [0, 1, 2, 3].every((i) => ((a[i]! & wordMask(p.length, i)) >>> 0) === ((p.words[i]! & wordMask(p.length, i)) >>> 0));
    if (hit && p.length > bestLen) [best, bestLen] = [v, p.length];
  }
  return best;
}

const word = fc.integer({ min: 0, max: 0xffffffff });
// Few distinct high words and lengths so that prefixes overlap and collide.
const address = fc.tuple(fc.constantFrom(0x20010db8, 0x20010db9), fc.constantFrom(0, 0x01000000, 0x01000100), word, word);
const prefix = fc.record({ words: address, length: fc.constantFrom(32, 40, 48, 56, 64, 127, 128) });

test("lookups agree with a linear scan through adds and removes (property)", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), prefix, address), { maxLength: 200 }), (ops) => {
      const t = new RouteTable();
      const live = new Map<string, { p: WordPrefix; v: number }>();
      const key = (p: WordPrefix): string => `${p.words.map((w, i) => (w & wordMask(p.length, i)) >>> 0)}/${p.length}`;
      ops.forEach(([add, p, probe], v) => {
        if (add && !live.has(key(p))) {
          t.add(p, v);
          live.set(key(p), { p, v });
        } else if (!add) {
          assert.equal(t.remove(p), live.delete(key(p)));
        }
        assert.equal(t.lookupWords(...probe), naiveLookup(live, probe));
        for (const { p: q, v: qv } of live.values()) assert.equal(t.lookupWords(...q.words), naiveLookup(live, q.words), `${qv}`);
      });
      assert.equal(t.size, live.size);
    }),
    { numRuns: 200 },
  );
});

test("heavy churn of /128s keeps every entry findable (growth and backward-shift deletion)", () => {
  const t = new RouteTable();
  const live = new Set<number>();
  const host = (n: number): WordPrefix => ({ words: [0x20010db8, 0, n >>> 16, n & 0xffff], length: 128 });
  for (let i = 0; i < 50_000; i++) {
    const n = (i * 7919) % 4096;
    if (live.has(n)) {
      assert.equal(t.remove(host(n)), true);
      live.delete(n);
    } else {
      t.add(host(n), n);
      live.add(n);
    }
  }
  for (let n = 0; n < 4096; n++) assert.equal(t.lookupWords(...host(n).words), live.has(n) ? n : -1);
});

test("lookup speed with 10k hosts and 10k /56 prefixes", (t) => {
  const table = new RouteTable();
  const n = 10_000;
  for (let i = 0; i < n; i++) {
    table.add({ words: [0x20010db8, 0xffff0000, 0, i], length: 128 }, i);
    table.add({ words: [0x20010db8, (0x0100 << 16) | (i << 8), 0, 0], length: 56 }, n + i);
  }
  const probes = Uint32Array.from({ length: 4096 }, (_, i) => (0x0100 << 16) | ((i * 37) % n << 8) | 0x42);
  let hits = 0;
  const rounds = 500;
  const start = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < probes.length; i++) if (table.lookupWords(0x20010db8, probes[i]!, 0x1234, 0x5678) >= 0) hits++;
  }
  const ns = Number(process.hrtime.bigint() - start) / (rounds * probes.length);
  assert.equal(hits, rounds * probes.length);
  t.diagnostic(`${ns.toFixed(1)} ns per lookup (two lengths in use, 20k routes)`);
});
