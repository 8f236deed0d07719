import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { firstFreeSubprefix, linkPair, validatePoolLength } from './allocation.ts';
import { AddressError } from './errors.ts';
import { parseIpv6 } from './ipv6.ts';
import {
  addressInPrefix,
  firstAddress,
  formatPrefix6,
  nthSubprefix,
  parsePrefix6,
  prefixContains,
  subprefixCount,
  subprefixIndex,
} from './prefix.ts';
import type { Prefix6 } from './prefix.ts';

const MAX = (1n << 128n) - 1n;
const p = parsePrefix6;
const free = (pool: string, length: number, used: readonly string[]) => {
  const found = firstFreeSubprefix(p(pool), length, used.map(p));
  return found === null ? null : formatPrefix6(found);
};

test('validatePoolLength accepts lengths from the pool length to 128', () => {
  for (const length of [48, 49, 64, 127, 128]) validatePoolLength(p('2001:db8::/48'), length);
  validatePoolLength(p('::/0'), 0);
});

test('validatePoolLength refuses lengths shorter than the pool or beyond 128', () => {
  assert.throws(() => validatePoolLength(p('2001:db8::/48'), 47), {
    name: 'AddressError',
    message: 'cannot split 2001:db8::/48 into /47 prefixes: the length must be between 48 and 128',
  });
  for (const length of [0, -1, 129, 64.5, Number.NaN]) {
    assert.throws(() => validatePoolLength(p('2001:db8::/48'), length), AddressError, String(length));
  }
  assert.throws(() => firstFreeSubprefix(p('2001:db8::/48'), 32, []), AddressError);
});

test('firstFreeSubprefix takes the first sub-prefix of an empty pool', () => {
  assert.equal(free('2001:db8::/48', 64, []), '2001:db8::/64');
  assert.equal(free('2001:db8::/48', 48, []), '2001:db8::/48');
  assert.equal(free('::/0', 128, []), '::/128');
});

test('firstFreeSubprefix skips used sub-prefixes and fills the lowest gap', () => {
  assert.equal(free('2001:db8::/48', 64, ['2001:db8::/64']), '2001:db8:0:1::/64');
  assert.equal(free('2001:db8::/48', 64, ['2001:db8:0:3::/64', '2001:db8::/64', '2001:db8:0:1::/64']), '2001:db8:0:2::/64');
  assert.equal(free('2001:db8::/48', 64, ['2001:db8:0:1::/64', '2001:db8:0:1::/64']), '2001:db8::/64');
  assert.equal(free('2001:db8::/48', 64, ['2001:db8::/64', '2001:db8::/64', '2001:db8:0:1::/64']), '2001:db8:0:2::/64');
});

test('firstFreeSubprefix treats a used prefix longer than the length as blocking its whole candidate', () => {
  assert.equal(free('2001:db8::/48', 64, ['2001:db8::1/128']), '2001:db8:0:1::/64');
  assert.equal(free('2001:db8::/48', 64, ['2001:db8:0:0:8000::/65', '2001:db8:0:1:ffff:ffff:ffff:ffff/128']), '2001:db8:0:2::/64');
});

test('firstFreeSubprefix treats a used prefix shorter than the length as blocking all it covers', () => {
  assert.equal(free('2001:db8::/48', 64, ['2001:db8::/63']), '2001:db8:0:2::/64');
  assert.equal(free('2001:db8::/48', 64, ['2001:db8::/49']), '2001:db8:0:8000::/64');
  assert.equal(free('2001:db8::/48', 56, ['2001:db8::/64', '2001:db8:0:100::/56']), '2001:db8:0:200::/56');
});

test('firstFreeSubprefix ignores used prefixes outside the pool', () => {
  assert.equal(free('2001:db8::/48', 64, ['2001:db7::/32', '2001:db8:1::/48', '8000::/1']), '2001:db8::/64');
  assert.equal(free('2001:db8:1::/48', 64, ['2001:db8::/48', '2001:db8:2::/48']), '2001:db8:1::/64');
});

test('firstFreeSubprefix returns null when the pool is exhausted', () => {
  assert.equal(free('2001:db8::/126', 128, ['2001:db8::3/128', '2001:db8::1/128', '2001:db8::/128', '2001:db8::2/128']), null);
  assert.equal(free('2001:db8::/48', 64, ['2001:db8::/48']), null);
  assert.equal(free('2001:db8::/48', 64, ['2001:db8::/32']), null);
  assert.equal(free('2001:db8::/48', 64, ['::/0']), null);
  assert.equal(free('2001:db8::/48', 48, ['2001:db8:0:1234::/64']), null);
  assert.equal(free('ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127', 128, ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128']), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128');
  assert.equal(free('ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127', 128, ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127']), null);
});

// These would take years if candidates were tried one at a time.
test('firstFreeSubprefix handles huge pools without walking candidates', { timeout: 5000 }, () => {
  assert.equal(free('2001::/16', 64, ['2001::/17']), '2001:8000::/64');
  assert.equal(free('::/0', 128, ['8000::/2', '::/1']), 'c000::/128');
  assert.equal(free('::/0', 128, ['::/0']), null);

  // The pool minus its last /64, as the 48 prefixes /17../64 that tile it.
  const pool = p('2001::/16');
  const last = nthSubprefix(pool, 64, (1n << 48n) - 1n);
  const tiles: Prefix6[] = [];
  for (let length = 17; length <= 64; length++) {
    // The last /64's ancestor of this length is the right half of its parent; take the left half.
    const ancestor = firstAddress({ address: last.address, length });
    tiles.push({ address: ancestor ^ (1n << BigInt(128 - length)), length });
  }
  tiles.reverse();
  assert.deepEqual(firstFreeSubprefix(pool, 64, tiles), last);
  assert.equal(firstFreeSubprefix(pool, 64, [...tiles, last]), null);
});

test('firstFreeSubprefix copes with many used prefixes', { timeout: 5000 }, () => {
  const pool = p('2001:db8::/32');
  const count = 50_000n;
  // Every /64 from 0 to count-1 except one, shuffled by a fixed permutation.
  const gap = 31_337n;
  const used: Prefix6[] = [];
  for (let i = 0n; i < count; i++) {
    const n = (i * 7919n) % count;
    if (n !== gap) used.push(nthSubprefix(pool, 64, n));
  }
  assert.deepEqual(firstFreeSubprefix(pool, 64, used), nthSubprefix(pool, 64, gap));
  used.push(nthSubprefix(pool, 64, gap));
  assert.deepEqual(firstFreeSubprefix(pool, 64, used), nthSubprefix(pool, 64, count));
});

/** Tries every candidate in turn, testing overlap by plain range arithmetic. */
function bruteForceFirstFree(pool: Prefix6, length: number, used: readonly Prefix6[]): Prefix6 | null {
  const end = (q: Prefix6) => q.address + (1n << BigInt(128 - q.length)) - 1n;
  const size = 1n << BigInt(128 - length);
  for (let address = pool.address; address <= end(pool); address += size) {
    const candidate = { address, length };
    if (!used.some((u) => u.address <= end(candidate) && candidate.address <= end(u))) return candidate;
  }
  return null;
}

// A /120..128 pool at the bottom, top or middle of the address space, with
// used prefixes of all lengths scattered in and around it.
const smallPool = fc
  .tuple(fc.constantFrom(0n, MAX, parseIpv6('2001:db8::')), fc.integer({ min: 120, max: 128 }))
  .map(([anchor, length]): Prefix6 => ({ address: firstAddress({ address: anchor, length }), length }));
const usedNear = (pool: Prefix6) =>
  fc
    .tuple(fc.bigInt({ min: -300n, max: 556n }), fc.oneof(fc.integer({ min: 116, max: 128 }), fc.integer({ min: 0, max: 128 })))
    .map(([offset, length]): Prefix6 => {
      let address = pool.address + offset;
      address = address < 0n ? 0n : address > MAX ? MAX : address;
      return { address: firstAddress({ address, length }), length };
    });
const smallCase = smallPool.chain((pool) =>
  fc.record({
    pool: fc.constant(pool),
    length: fc.integer({ min: pool.length, max: 128 }),
    used: fc.array(usedNear(pool), { maxLength: 40 }),
  }),
);

test('firstFreeSubprefix finds the same sub-prefix as trying every candidate', () => {
  fc.assert(
    fc.property(smallCase, ({ pool, length, used }) => {
      const found = firstFreeSubprefix(pool, length, used);
      assert.deepEqual(found, bruteForceFirstFree(pool, length, used));
      if (found !== null) {
        assert.equal(found.length, length);
        assert.equal(prefixContains(pool, found), true);
        assert.equal(used.some((u) => prefixContains(u, found) || prefixContains(found, u)), false);
      }
    }),
    { numRuns: 1000 },
  );
});

test('firstFreeSubprefix finds the one sub-prefix left, or null when none is', () => {
  fc.assert(
    fc.property(smallPool, fc.integer({ min: 0, max: 8 }), fc.nat(), fc.boolean(), (pool, extra, seed, leaveOne) => {
      const length = Math.min(128, pool.length + extra);
      const count = Number(1n << BigInt(length - pool.length));
      const all = Array.from({ length: count }, (_, i) => nthSubprefix(pool, length, BigInt((i * 37 + seed) % count)));
      const left = all.pop();
      assert.ok(left !== undefined);
      assert.deepEqual(firstFreeSubprefix(pool, length, leaveOne ? all : [...all, left]), leaveOne ? left : null);
    }),
  );
});

test('firstFreeSubprefix finds the lowest free sub-prefix in big pools', () => {
  const bigCase = fc
    .tuple(fc.bigInt({ min: 0n, max: MAX }), fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 64 }))
    .chain(([anchor, poolLength, extra]) => {
      const pool = { address: firstAddress({ address: anchor, length: poolLength }), length: poolLength };
      const length = poolLength + extra;
      // Used prefixes bunched among the first 65 candidates, each blocking at
      // most 8 of them (or, when shorter than the pool, all of it), so the
      // first free candidate, if any, is among the first 73 and checkable.
      const used = fc
        .tuple(fc.bigInt({ min: 0n, max: 64n }), fc.integer({ min: Math.max(0, length - 3), max: 128 }))
        .map(([n, l]): Prefix6 => {
          const address = pool.address + n * (1n << BigInt(128 - length));
          return { address: firstAddress({ address: address > MAX ? MAX : address, length: l }), length: l };
        });
      return fc.record({ pool: fc.constant(pool), length: fc.constant(length), used: fc.array(used, { maxLength: 60 }) });
    });
  fc.assert(
    fc.property(bigCase, ({ pool, length, used }) => {
      const found = firstFreeSubprefix(pool, length, used);
      const isFree = (q: Prefix6) => !used.some((u) => prefixContains(u, q) || prefixContains(q, u));
      const count = subprefixCount(pool, length);
      const wholePoolUsed = used.some((u) => prefixContains(u, pool));
      const firstFree = found === null ? (wholePoolUsed ? 0n : count) : subprefixIndex(pool, found);
      assert.ok(firstFree <= 73n);
      for (let n = 0n; n < firstFree; n++) assert.equal(isFree(nthSubprefix(pool, length, n)), false);
      if (found !== null) {
        assert.equal(found.length, length);
        assert.equal(prefixContains(pool, found), true);
        assert.equal(isFree(found), true);
      }
    }),
    { numRuns: 500 },
  );
});

test('linkPair uses both addresses of a /127', () => {
  assert.deepEqual(linkPair(p('2001:db8::/127')), { server: parseIpv6('2001:db8::'), client: parseIpv6('2001:db8::1') });
  assert.deepEqual(linkPair(p('2001:db8::6/127')), { server: parseIpv6('2001:db8::6'), client: parseIpv6('2001:db8::7') });
});

test('linkPair skips the subnet-router anycast address in a /126 or larger', () => {
  assert.deepEqual(linkPair(p('2001:db8::/126')), { server: parseIpv6('2001:db8::1'), client: parseIpv6('2001:db8::2') });
  assert.deepEqual(linkPair(p('2001:db8:0:1::/64')), { server: parseIpv6('2001:db8:0:1::1'), client: parseIpv6('2001:db8:0:1::2') });
  assert.deepEqual(linkPair(p('::/0')), { server: 1n, client: 2n });
});

test('linkPair refuses a /128', () => {
  assert.throws(() => linkPair(p('2001:db8::1/128')), {
    name: 'AddressError',
    message: 'a /128 holds a single address; a link needs a /127 or larger',
  });
});

test('linkPair gives two distinct addresses inside the block', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: MAX }), fc.integer({ min: 0, max: 127 }), (anchor, length) => {
      const block = { address: firstAddress({ address: anchor, length }), length };
      const { server, client } = linkPair(block);
      assert.notEqual(server, client);
      assert.equal(addressInPrefix(server, block), true);
      assert.equal(addressInPrefix(client, block), true);
      if (length <= 126) assert.notEqual(server, block.address);
    }),
  );
});
