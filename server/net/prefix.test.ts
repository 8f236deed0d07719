import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AddressError } from './errors.ts';
import { parseIpv6 } from './ipv6.ts';
import {
  addressInPrefix,
  firstAddress,
  formatPrefix6,
  lastAddress,
  nthSubprefix,
  parsePrefix6,
  prefixContains,
  prefixesOverlap,
  subprefixCount,
  subprefixIndex,
} from './prefix.ts';
import type { Prefix6 } from './prefix.ts';

const MAX = (1n << 128n) - 1n;
const p = parsePrefix6;

test('parsePrefix6 reads address and length', () => {
  assert.deepEqual(p('2001:db8::/32'), { address: 0x20010db8n << 96n, length: 32 });
  assert.deepEqual(p('::/0'), { address: 0n, length: 0 });
  assert.deepEqual(p('::1/128'), { address: 1n, length: 128 });
  assert.deepEqual(p('fe80::/10'), { address: 0xfe80n << 112n, length: 10 });
  assert.deepEqual(p('FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF/128'), { address: MAX, length: 128 });
  assert.deepEqual(p('::ffff:0.0.0.0/96'), { address: 0xffffn << 32n, length: 96 });
});

test('formatPrefix6 writes the canonical form', () => {
  assert.equal(formatPrefix6(p('2001:0DB8:0000:0000::/64')), '2001:db8::/64');
  assert.equal(formatPrefix6(p('0:0:0:0:0:0:0:0/0')), '::/0');
  assert.equal(formatPrefix6(p('2001:db8:0:0:1:0:0:0/80')), '2001:db8:0:0:1::/80');
});

test('parsePrefix6 refuses host bits and suggests the prefix meant', () => {
  assert.throws(() => p('2001:db8::1/64'), {
    name: 'AddressError',
    message: '2001:db8::1/64 has host bits set; did you mean 2001:db8::/64?',
  });
  assert.throws(() => p('2001:DB8:0:0:0:0:0:1/64'), {
    message: '2001:db8::1/64 has host bits set; did you mean 2001:db8::/64?',
  });
  assert.throws(() => p('8000::/0'), { message: '8000::/0 has host bits set; did you mean ::/0?' });
  assert.throws(() => p('2001:db8:1::/32'), { message: '2001:db8:1::/32 has host bits set; did you mean 2001:db8::/32?' });
  assert.throws(() => p('::1/127'), { message: '::1/127 has host bits set; did you mean ::/127?' });
});

test('parsePrefix6 refuses lengths outside 0..128 or not in plain decimal', () => {
  for (const s of [
    '2001:db8::/129',
    '2001:db8::/1000',
    '2001:db8::/-1',
    '2001:db8::/064',
    '2001:db8::/00',
    '2001:db8::/',
    '2001:db8::/ 64',
    '2001:db8::/64 ',
    '2001:db8::/+64',
    '2001:db8::/6.4',
    '2001:db8::/0x40',
    '2001:db8::/64/64',
    '2001:db8::/６４',
  ]) {
    assert.throws(
      () => p(s),
      (e: unknown) =>
        e instanceof AddressError &&
        e.message === `${JSON.stringify(s)} is not an IPv6 prefix: prefix length must be between 0 and 128`,
      s,
    );
  }
});

test('parsePrefix6 refuses input without a length', () => {
  assert.throws(() => p('2001:db8::'), {
    name: 'AddressError',
    message: '"2001:db8::" is not an IPv6 prefix (expected address/length, like 2001:db8::/48)',
  });
  assert.throws(() => p(''), /is not an IPv6 prefix/);
});

test('parsePrefix6 reports a bad address part as an address error', () => {
  assert.throws(() => p('2001:db8::zz/64'), (e: unknown) =>
    e instanceof AddressError && e.message.startsWith('"2001:db8::zz" is not an IPv6 address'),
  );
  assert.throws(() => p('/64'), /"" is not an IPv6 address/);
  assert.throws(() => p('192.0.2.0/24'), /"192.0.2.0" is not an IPv6 address/);
  assert.throws(() => p('fe80::%eth0/64'), /zone ids are not allowed/);
});

test('first and last address bound the prefix', () => {
  assert.equal(firstAddress(p('2001:db8::/64')), parseIpv6('2001:db8::'));
  assert.equal(lastAddress(p('2001:db8::/64')), parseIpv6('2001:db8::ffff:ffff:ffff:ffff'));
  assert.equal(lastAddress(p('::/0')), MAX);
  assert.equal(lastAddress(p('::5/128')), 5n);
});

test('containment and overlap on known prefixes', () => {
  const net32 = p('2001:db8::/32');
  const net48 = p('2001:db8:1::/48');
  const other48 = p('2001:db8:2::/48');
  assert.equal(prefixContains(net32, net48), true);
  assert.equal(prefixContains(net48, net32), false);
  assert.equal(prefixContains(net48, net48), true);
  assert.equal(prefixContains(p('::/0'), net48), true);
  assert.equal(prefixContains(net48, other48), false);
  assert.equal(prefixContains(p('2001:db9::/32'), net48), false);
  assert.equal(prefixesOverlap(net32, net48), true);
  assert.equal(prefixesOverlap(net48, net32), true);
  assert.equal(prefixesOverlap(net48, other48), false);
  assert.equal(prefixesOverlap(p('::/1'), p('8000::/1')), false);
  assert.equal(prefixesOverlap(p('::/0'), p('ffff::/128')), true);
});

test('addressInPrefix includes exactly the addresses from first to last', () => {
  const net = p('2001:db8::/64');
  assert.equal(addressInPrefix(parseIpv6('2001:db8::'), net), true);
  assert.equal(addressInPrefix(parseIpv6('2001:db8::ffff'), net), true);
  assert.equal(addressInPrefix(parseIpv6('2001:db8::ffff:ffff:ffff:ffff'), net), true);
  assert.equal(addressInPrefix(parseIpv6('2001:db8:0:1::'), net), false);
  assert.equal(addressInPrefix(parseIpv6('2001:db7:ffff:ffff:ffff:ffff:ffff:ffff'), net), false);
  assert.equal(addressInPrefix(MAX, p('::/0')), true);
  assert.equal(addressInPrefix(1n, p('::/128')), false);
});

test('a hand-built prefix with host bits behaves as the prefix it names', () => {
  const sloppy: Prefix6 = { address: parseIpv6('2001:db8::1'), length: 64 };
  assert.equal(formatPrefix6(sloppy), '2001:db8::/64');
  assert.equal(firstAddress(sloppy), parseIpv6('2001:db8::'));
  assert.equal(prefixContains(sloppy, p('2001:db8::/96')), true);
  assert.equal(prefixContains(p('2001:db8::/48'), sloppy), true);
  assert.equal(addressInPrefix(parseIpv6('2001:db8::2'), sloppy), true);
  assert.equal(subprefixIndex(p('2001:db8::/48'), sloppy), 0n);
  assert.deepEqual(nthSubprefix(sloppy, 128, 2n), p('2001:db8::2/128'));
});

test('subprefixCount counts prefixes of a length inside a pool', () => {
  assert.equal(subprefixCount(p('2001:db8::/48'), 64), 65536n);
  assert.equal(subprefixCount(p('2001:db8::/48'), 48), 1n);
  assert.equal(subprefixCount(p('::/0'), 128), 1n << 128n);
  assert.equal(subprefixCount(p('2001::/16'), 64), 1n << 48n);
});

test('subprefixCount refuses lengths that do not fit the pool', () => {
  assert.throws(() => subprefixCount(p('2001:db8::/48'), 32), {
    name: 'AddressError',
    message: 'cannot split 2001:db8::/48 into /32 prefixes: the length must be between 48 and 128',
  });
  assert.throws(() => subprefixCount(p('2001:db8::/48'), 129), AddressError);
  assert.throws(() => subprefixCount(p('2001:db8::/48'), 64.5), AddressError);
});

test('nthSubprefix counts from the start of the pool', () => {
  const pool = p('2001:db8::/48');
  assert.deepEqual(nthSubprefix(pool, 64, 0n), p('2001:db8::/64'));
  assert.deepEqual(nthSubprefix(pool, 64, 1n), p('2001:db8:0:1::/64'));
  assert.deepEqual(nthSubprefix(pool, 64, 65535n), p('2001:db8:0:ffff::/64'));
  assert.deepEqual(nthSubprefix(pool, 48, 0n), pool);
  assert.deepEqual(nthSubprefix(p('::/0'), 128, MAX), p('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128'));
});

test('nthSubprefix refuses numbers outside the pool', () => {
  const pool = p('2001:db8::/48');
  assert.throws(() => nthSubprefix(pool, 64, 65536n), {
    name: 'AddressError',
    message: '2001:db8::/48 has 65536 /64 prefixes, numbered 0 to 65535; there is no number 65536',
  });
  assert.throws(() => nthSubprefix(pool, 64, -1n), AddressError);
  assert.throws(() => nthSubprefix(pool, 47, 0n), AddressError);
});

test('subprefixIndex finds the position of a sub-prefix', () => {
  const pool = p('2001:db8::/48');
  assert.equal(subprefixIndex(pool, p('2001:db8::/64')), 0n);
  assert.equal(subprefixIndex(pool, p('2001:db8:0:ffff::/64')), 65535n);
  assert.equal(subprefixIndex(pool, p('2001:db8:0:8000::/49')), 1n);
  assert.equal(subprefixIndex(pool, pool), 0n);
});

test('subprefixIndex refuses prefixes not inside the pool', () => {
  const pool = p('2001:db8::/48');
  assert.throws(() => subprefixIndex(pool, p('2001:db9::/64')), {
    name: 'AddressError',
    message: '2001:db9::/64 is not inside 2001:db8::/48',
  });
  assert.throws(() => subprefixIndex(pool, p('2001:db8::/32')), /2001:db8::\/32 is not inside 2001:db8::\/48/);
});

// Prefixes drawn in pairs that often share leading bits, so containment and
// overlap are common rather than vanishingly rare.
const address = fc.bigInt({ min: 0n, max: MAX });
const length = fc.integer({ min: 0, max: 128 });
const normalized = (address: bigint, length: number): Prefix6 => {
  const hostBits = 1n << BigInt(128 - length);
  return { address: address - (address % hostBits), length };
};
const prefix = fc.tuple(address, length).map(([a, l]) => normalized(a, l));
const relatedPair = fc
  .tuple(address, fc.bigInt({ min: 0n, max: MAX }), fc.integer({ min: 0, max: 128 }), length, length)
  .map(([a, noise, shift, la, lb]) => [normalized(a, la), normalized(a ^ (noise >> BigInt(shift)), lb)] as const);

test('formatPrefix6 and parsePrefix6 round trip', () => {
  fc.assert(
    fc.property(prefix, (q) => {
      assert.deepEqual(p(formatPrefix6(q)), q);
    }),
  );
});

test('parsePrefix6 throws nothing but AddressError', () => {
  const prefixish = fc.string({ unit: fc.constantFrom(...'0f:/18.2%'), maxLength: 24 });
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary' }), prefixish), (s) => {
      try {
        const q = p(s);
        assert.ok(q.length >= 0 && q.length <= 128);
        assert.equal(firstAddress(q), q.address);
      } catch (e) {
        assert.ok(e instanceof AddressError, String(e));
      }
    }),
    { numRuns: 2000 },
  );
});

test('overlap is the intersection of address ranges, and symmetric', () => {
  fc.assert(
    fc.property(relatedPair, ([a, b]) => {
      const aEnd = a.address + (1n << BigInt(128 - a.length)) - 1n;
      const bEnd = b.address + (1n << BigInt(128 - b.length)) - 1n;
      const intersect = a.address <= bEnd && b.address <= aEnd;
      assert.equal(prefixesOverlap(a, b), intersect);
      assert.equal(prefixesOverlap(b, a), intersect);
    }),
    { numRuns: 2000 },
  );
});

test('containment is range inclusion and implies overlap', () => {
  fc.assert(
    fc.property(relatedPair, ([outer, inner]) => {
      const outerEnd = outer.address + (1n << BigInt(128 - outer.length)) - 1n;
      const innerEnd = inner.address + (1n << BigInt(128 - inner.length)) - 1n;
      const included = outer.address <= inner.address && innerEnd <= outerEnd;
      assert.equal(prefixContains(outer, inner), included);
      if (included) assert.equal(prefixesOverlap(outer, inner), true);
      if (prefixContains(outer, inner) && prefixContains(inner, outer)) assert.deepEqual(outer, inner);
    }),
    { numRuns: 2000 },
  );
});

test('addressInPrefix agrees with containment of the /128', () => {
  fc.assert(
    fc.property(relatedPair, ([q, { address: a }]) => {
      const inRange = q.address <= a && a <= lastAddress(q);
      assert.equal(addressInPrefix(a, q), inRange);
      assert.equal(prefixContains(q, { address: a, length: 128 }), inRange);
    }),
    { numRuns: 2000 },
  );
});

const poolAndLength = fc
  .tuple(prefix, fc.nat(128))
  .map(([pool, extra]) => ({ pool, length: pool.length + (extra % (129 - pool.length)) }));

test('subprefixIndex inverts nthSubprefix', () => {
  fc.assert(
    fc.property(poolAndLength, fc.bigInt({ min: 0n, max: MAX }), ({ pool, length }, raw) => {
      const n = raw % subprefixCount(pool, length);
      const sub = nthSubprefix(pool, length, n);
      assert.equal(sub.length, length);
      assert.equal(prefixContains(pool, sub), true);
      assert.equal(subprefixIndex(pool, sub), n);
    }),
  );
});

test('nthSubprefix inverts subprefixIndex', () => {
  fc.assert(
    fc.property(relatedPair, ([pool, sub]) => {
      fc.pre(prefixContains(pool, sub));
      assert.deepEqual(nthSubprefix(pool, sub.length, subprefixIndex(pool, sub)), sub);
    }),
  );
});

test('distinct numbers give disjoint sub-prefixes in address order', () => {
  fc.assert(
    fc.property(poolAndLength, fc.bigInt({ min: 0n, max: MAX }), fc.bigInt({ min: 0n, max: MAX }), ({ pool, length }, x, y) => {
      const count = subprefixCount(pool, length);
      const [m, n] = [x % count, y % count];
      const a = nthSubprefix(pool, length, m);
      const b = nthSubprefix(pool, length, n);
      assert.equal(prefixesOverlap(a, b), m === n);
      assert.equal(a.address < b.address, m < n);
    }),
  );
});
