import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressError, quote } from './errors.ts';

test('AddressError is an Error named AddressError', () => {
  const error = new AddressError('nope');
  assert.ok(error instanceof Error);
  assert.equal(error.name, 'AddressError');
  assert.equal(error.message, 'nope');
  assert.match(String(error), /^AddressError: nope$/);
});

test('quote wraps input in double quotes', () => {
  assert.equal(quote('2001:db8::zz'), '"2001:db8::zz"');
});

test('quote escapes quotes and control characters', () => {
  assert.equal(quote('a"b\n\u0000'), '"a\\"b\\n\\u0000"');
});

test('quote shortens long input to 64 characters and an ellipsis', () => {
  assert.equal(quote('x'.repeat(64)), `"${'x'.repeat(64)}"`);
  assert.equal(quote('x'.repeat(100_000)), `"${'x'.repeat(64)}…"`);
});
