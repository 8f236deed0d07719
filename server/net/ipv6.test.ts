import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import { AddressError } from './errors.ts';
import { formatIpv6, isIpv6, parseIpv6 } from './ipv6.ts';

const MAX = (1n << 128n) - 1n;

// [input, RFC 5952 canonical form]; most are the examples from RFC 5952 itself.
const CANONICAL: ReadonlyArray<readonly [string, string]> = [
  ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ['2001:0db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ['2001:db8::1:0:0:1', '2001:db8::1:0:0:1'],
  ['2001:db8::0:1:0:0:1', '2001:db8::1:0:0:1'],
  ['2001:0db8::1:0:0:1', '2001:db8::1:0:0:1'],
  ['2001:db8:0:0:1::1', '2001:db8::1:0:0:1'],
  ['2001:db8:0000:0:1::1', '2001:db8::1:0:0:1'],
  ['2001:DB8:0:0:1::1', '2001:db8::1:0:0:1'],
  ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
  ['2001:db8::0:1', '2001:db8::1'],
  ['2001:db8:0:0:0::1', '2001:db8::1'],
  ['2001:db8::1', '2001:db8::1'],
  ['2001:db8::aaaa:0:0:1', '2001:db8::aaaa:0:0:1'],
  ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
  ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
  ['2001:db8:0:0:1:0:0:0', '2001:db8:0:0:1::'],
  ['1:0:0:0:2:0:0:0', '1::2:0:0:0'],
  ['0:0:1:0:0:0:0:0', '0:0:1::'],
  ['0:1:0:1:0:1:0:1', '0:1:0:1:0:1:0:1'],
  ['0:0:0:0:0:0:0:0', '::'],
  ['::', '::'],
  ['0:0:0:0:0:0:0:1', '::1'],
  ['::0:1', '::1'],
  ['1:0:0:0:0:0:0:0', '1::'],
  ['1::0', '1::'],
  ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
  ['1:2:3::5:6:7:8', '1:2:3:0:5:6:7:8'],
  ['a:b:c:d:e:f:0:0', 'a:b:c:d:e:f::'],
  ['FE80::ABCD', 'fe80::abcd'],
  ['fE80:0:0:0:0200:5eFF:fe00:5213', 'fe80::200:5eff:fe00:5213'],
  ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ['::ffff:1.2.3.4', '::ffff:102:304'],
  ['::FFFF:192.0.2.1', '::ffff:c000:201'],
  ['::1.2.3.4', '::102:304'],
  ['::0.0.0.0', '::'],
  ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
  ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
  ['1:2:3:4:5::255.255.255.255', '1:2:3:4:5:0:ffff:ffff'],
  ['0:0:0:0:0:ffff:1.2.3.4', '::ffff:102:304'],
];

test('parseIpv6 then formatIpv6 yields the RFC 5952 canonical form', () => {
  for (const [input, canonical] of CANONICAL) {
    assert.equal(formatIpv6(parseIpv6(input)), canonical, input);
    assert.equal(isIpv6(input), true, input);
  }
});

test('parseIpv6 yields the right numbers', () => {
  assert.equal(parseIpv6('::'), 0n);
  assert.equal(parseIpv6('::1'), 1n);
  assert.equal(parseIpv6('1::'), 1n << 112n);
  assert.equal(parseIpv6('::ffff:1.2.3.4'), 0xffff01020304n);
  assert.equal(parseIpv6('2001:db8::1'), 0x20010db8000000000000000000000001n);
  assert.equal(parseIpv6('1:2:3:4:5:6:7:8'), 0x00010002000300040005000600070008n);
  assert.equal(parseIpv6('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), MAX);
});

// [input, the explanation the message must contain]
const MALFORMED: ReadonlyArray<readonly [string, RegExp | null]> = [
  ['fe80::1%eth0', /zone ids are not allowed/],
  ['fe80::1%1', /zone ids are not allowed/],
  ['1::2::3', /"::" may appear only once/],
  ['::1::', /"::" may appear only once/],
  ['1:2:3:4:5:6:7:8:9', /too many groups/],
  ['1:2:3:4:5:6:7:8::', /too many groups/],
  ['::1:2:3:4:5:6:7:8', /too many groups/],
  ['1:2:3:4::5:6:7:8', /too many groups/],
  ['1:2:3:4:5:6:7:1.2.3.4', /too many groups/],
  ['1:2:3:4:5:6::1.2.3.4', /too many groups/],
  ['1:2:3:4:5:6:7', /too few groups/],
  ['1:2:3:4:5:1.2.3.4', /too few groups/],
  ['1.2.3.4', /too few groups/],
  ['', /too few groups/],
  [':', /empty group/],
  [':::', /empty group/],
  ['1:::2', /empty group/],
  [':1::', /empty group/],
  ['::1:', /empty group/],
  [':1:2:3:4:5:6:7', /empty group/],
  ['1:2:3:4:5:6:7:', /empty group/],
  ['1::2:', /empty group/],
  ['2001:db8::zz', /"zz" is not a group of 1 to 4 hex digits/],
  ['00001::', /"00001" is not a group/],
  ['::12345', /"12345" is not a group/],
  ['::1.2.3', /"1.2.3" is not a group/],
  ['::1.2.3.04', /"1.2.3.04" is not a group/],
  ['::256.1.1.1', /"256.1.1.1" is not a group/],
  ['1.2.3.4::', /"1.2.3.4" is not a group/],
  ['::1.2.3.4:1', /"1.2.3.4" is not a group/],
  ['::1.2.3.4.5', /"1.2.3.4.5" is not a group/],
  ['g::', /"g" is not a group/],
  [' ::1', null],
  ['::1 ', null],
  ['[::1]', null],
  ['::1/128', null],
  ['0x1::', null],
  ['::-1', null],
  ['::+1', null],
  ['１::', null],
  ['::1\n', null],
];

test('parseIpv6 rejects malformed input and says why', () => {
  for (const [input, why] of MALFORMED) {
    assert.throws(
      () => parseIpv6(input),
      (e: unknown) =>
        e instanceof AddressError &&
        e.message.startsWith(`${JSON.stringify(input)} is not an IPv6 address`) &&
        (why === null || why.test(e.message)),
      JSON.stringify(input),
    );
    assert.equal(isIpv6(input), false, JSON.stringify(input));
  }
});

test('parseIpv6 gives the message the UI shows for a typo', () => {
  assert.throws(() => parseIpv6('2001:db8::zz'), {
    name: 'AddressError',
    message: '"2001:db8::zz" is not an IPv6 address ("zz" is not a group of 1 to 4 hex digits)',
  });
});

test('parseIpv6 keeps messages short for huge hostile input', () => {
  assert.throws(
    () => parseIpv6('1:'.repeat(100_000)),
    (e: unknown) => e instanceof AddressError && e.message.length < 200,
  );
});

test('formatIpv6 refuses numbers outside 0..2^128-1', () => {
  assert.throws(() => formatIpv6(-1n), RangeError);
  assert.throws(() => formatIpv6(MAX + 1n), RangeError);
});

// Addresses built from groups that are often zero, so zero runs of every
// length and position (the interesting cases for "::") come up.
const zeroHeavyGroups = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
  minLength: 8,
  maxLength: 8,
});
const fromGroups = (groups: readonly number[]) => groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
const address = fc.oneof(fc.bigInt({ min: 0n, max: MAX }), zeroHeavyGroups.map(fromGroups));

test('parseIpv6 inverts formatIpv6 for all 128-bit values', () => {
  fc.assert(
    fc.property(address, (n) => {
      assert.equal(parseIpv6(formatIpv6(n)), n);
    }),
    { numRuns: 2000 },
  );
});

test('formatIpv6 matches the WHATWG URL serializer, which also follows RFC 5952', () => {
  fc.assert(
    fc.property(address, (n) => {
      const text = formatIpv6(n);
      assert.equal(new URL(`http://[${text}]`).hostname, `[${text}]`);
    }),
    { numRuns: 2000 },
  );
});

/** Every valid way to write `groups`: any zero run compressed, padding, case, IPv4 tail. */
const anyTextForm = fc
  .record({
    groups: zeroHeavyGroups,
    ipv4Tail: fc.boolean(),
    compressionChoice: fc.nat(),
    widths: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 8, maxLength: 8 }),
    upper: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
  })
  .map(({ groups, ipv4Tail, compressionChoice, widths, upper }) => {
    const hexCount = ipv4Tail ? 6 : 8;
    const texts = groups.slice(0, hexCount).map((g, i) => {
      const hex = g.toString(16).padStart(widths[i] ?? 1, '0');
      return upper[i] ? hex.toUpperCase() : hex;
    });
    const tail = ipv4Tail ? [[(groups[6] ?? 0) >> 8, (groups[6] ?? 0) & 0xff, (groups[7] ?? 0) >> 8, (groups[7] ?? 0) & 0xff].join('.')] : [];
    const zeroRuns: Array<readonly [number, number]> = [];
    for (let start = 0; start < hexCount; start++) {
      for (let end = start + 1; end <= hexCount && groups[end - 1] === 0; end++) zeroRuns.push([start, end]);
    }
    const run = zeroRuns[compressionChoice % (zeroRuns.length + 1)];
    const text =
      run === undefined
        ? [...texts, ...tail].join(':')
        : `${texts.slice(0, run[0]).join(':')}::${[...texts.slice(run[1]), ...tail].join(':')}`;
    return { text, value: fromGroups(groups) };
  });

test('parseIpv6 reads every valid text form of an address', () => {
  fc.assert(
    fc.property(anyTextForm, ({ text, value }) => {
      assert.equal(parseIpv6(text), value, text);
    }),
    { numRuns: 3000 },
  );
});

/** A valid text form with one character inserted, deleted or replaced. */
const nearMiss = fc
  .tuple(anyTextForm, fc.nat(), fc.constantFrom(...'0159aAfF:.%g/ '), fc.constantFrom('insert', 'delete', 'replace'))
  .map(([{ text }, at, char, edit]) => {
    const i = at % (text.length + 1);
    if (edit === 'insert') return text.slice(0, i) + char + text.slice(i);
    if (edit === 'delete') return text.slice(0, i) + text.slice(i + 1);
    return text.slice(0, i) + char + text.slice(i + 1);
  });

test('parseIpv6 throws nothing but AddressError, and accepts exactly what node:net and URL accept', () => {
  const hexish = fc.string({ unit: fc.constantFrom(...'0fF:.1%'), maxLength: 45 });
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary' }), hexish, nearMiss), (s) => {
      let value: bigint | null;
      try {
        value = parseIpv6(s);
      } catch (e) {
        assert.ok(e instanceof AddressError, String(e));
        value = null;
      }
      // node:net allows zone ids, which we deliberately refuse.
      assert.equal(value !== null, isIPv6(s) && !s.includes('%'), JSON.stringify(s));
      if (value !== null) {
        assert.ok(value >= 0n && value <= MAX);
        assert.equal(`[${formatIpv6(value)}]`, new URL(`http://[${s}]`).hostname);
      }
    }),
    { numRuns: 5000 },
  );
});
