import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv4 } from 'node:net';
import fc from 'fast-check';
import { AddressError } from './errors.ts';
import { formatIpv4, isIpv4, parseIpv4, unmapIpv4 } from './ipv4.ts';

const VECTORS: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 0],
  ['0.0.0.1', 1],
  ['192.0.2.1', 0xc0000201],
  ['10.20.30.40', 0x0a141e28],
  ['128.0.0.0', 0x80000000],
  ['255.255.255.255', 0xffffffff],
];

test('parseIpv4 and formatIpv4 agree with known vectors', () => {
  for (const [text, value] of VECTORS) {
    assert.equal(parseIpv4(text), value, text);
    assert.equal(formatIpv4(value), text);
    assert.equal(isIpv4(text), true);
  }
});

const MALFORMED = [
  '',
  '1.2.3',
  '1.2.3.4.5',
  '01.2.3.4',
  '1.2.3.04',
  '00.0.0.0',
  '1.2.3.00',
  '1000.1.1.1',
  '1..2.3',
  '.1.2.3',
  '1.2.3.',
  ' 1.2.3.4',
  '1.2.3.4 ',
  '1.2.3.4\n',
  '+1.2.3.4',
  '1.2.3.-1',
  '0x1.2.3.4',
  '1e1.2.3.4',
  '1.2.3.4/32',
  '１.2.3.4',
  '::ffff:1.2.3.4',
  '16909060',
];

test('parseIpv4 rejects malformed input with an AddressError naming it', () => {
  for (const text of MALFORMED) {
    assert.throws(
      () => parseIpv4(text),
      (e: unknown) => e instanceof AddressError && e.message.startsWith(`${JSON.stringify(text)} is not an IPv4 address`),
      JSON.stringify(text),
    );
    assert.equal(isIpv4(text), false, JSON.stringify(text));
  }
});

test('parseIpv4 says which octet is too big', () => {
  assert.throws(() => parseIpv4('192.0.2.256'), {
    name: 'AddressError',
    message: '"192.0.2.256" is not an IPv4 address (256 is more than 255)',
  });
  assert.throws(() => parseIpv4('999.0.0.0'), /999 is more than 255/);
});

test('formatIpv4 refuses numbers that are not 32-bit unsigned integers', () => {
  for (const n of [-1, 0x100000000, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => formatIpv4(n), RangeError, String(n));
  }
});

test('parseIpv4 inverts formatIpv4 for every 32-bit value', () => {
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), (n) => {
      assert.equal(parseIpv4(formatIpv4(n)), n);
    }),
  );
});

test('parseIpv4 throws nothing but AddressError and agrees with node:net', () => {
  const nearlyDotted = fc.string({ unit: fc.constantFrom(...'0123456789.'), maxLength: 16 });
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary' }), nearlyDotted), (s) => {
      let valid: boolean;
      try {
        const n = parseIpv4(s);
        assert.equal(formatIpv4(n), s);
        valid = true;
      } catch (e) {
        assert.ok(e instanceof AddressError, String(e));
        valid = false;
      }
      assert.equal(valid, isIPv4(s), JSON.stringify(s));
    }),
    { numRuns: 2000 },
  );
});

test('unmapIpv4 unwraps IPv4-mapped IPv6 addresses', () => {
  assert.equal(unmapIpv4('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(unmapIpv4('::FFFF:192.0.2.1'), '192.0.2.1');
  assert.equal(unmapIpv4('::ffff:0.0.0.0'), '0.0.0.0');
});

test('unmapIpv4 leaves everything else unchanged', () => {
  for (const s of [
    '192.0.2.1',
    '::1',
    '2001:db8::1',
    '::ffff:c000:201',
    '::ffff:192.0.2.256',
    '::ffff:192.0.2.01',
    '::ffff:',
    '::fffe:192.0.2.1',
    '::192.0.2.1',
    'x::ffff:192.0.2.1',
    '::ffff:192.0.2.1%eth0',
    '',
  ]) {
    assert.equal(unmapIpv4(s), s);
  }
});
