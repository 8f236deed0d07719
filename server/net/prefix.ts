import { AddressError, quote } from './errors.ts';
import { formatIpv6, parseIpv6 } from './ipv6.ts';

/**
 * An IPv6 prefix such as 2001:db8::/48. Prefixes made by this module have
 * all host bits zero; the functions below mask them anyway, so a hand-built
 * value with stray host bits still behaves as the prefix it names.
 */
export type Prefix6 = { readonly address: bigint; readonly length: number };

const LENGTH = /^(0|[1-9][0-9]{0,2})$/;

/** The mask selecting the first `length` bits of an address. */
function networkMask(length: number): bigint {
  return ((1n << BigInt(length)) - 1n) << BigInt(128 - length);
}

/** Number of addresses in a prefix of this length. */
function blockSize(length: number): bigint {
  return 1n << BigInt(128 - length);
}

export function firstAddress(p: Prefix6): bigint {
  return p.address & networkMask(p.length);
}

export function lastAddress(p: Prefix6): bigint {
  return firstAddress(p) + blockSize(p.length) - 1n;
}

/**
 * Parses "address/length" strictly: the length is 0..128 without leading
 * zeros and the address has no bits set past the length (a typo there
 * usually means the user meant a different prefix, so we don't round).
 */
export function parsePrefix6(s: string): Prefix6 {
  const slash = s.indexOf('/');
  if (slash < 0) {
    throw new AddressError(`${quote(s)} is not an IPv6 prefix (expected address/length, like 2001:db8::/48)`);
  }
  const address = parseIpv6(s.slice(0, slash));
  const lengthText = s.slice(slash + 1);
  if (!LENGTH.test(lengthText) || Number(lengthText) > 128) {
    throw new AddressError(`${quote(s)} is not an IPv6 prefix: prefix length must be between 0 and 128`);
  }
  const length = Number(lengthText);
  const prefix = { address: address & networkMask(length), length };
  if (prefix.address !== address) {
    throw new AddressError(
      `${formatIpv6(address)}/${length} has host bits set; did you mean ${formatPrefix6(prefix)}?`,
    );
  }
  return prefix;
}

export function formatPrefix6(p: Prefix6): string {
  return `${formatIpv6(firstAddress(p))}/${p.length}`;
}

/** True when every address of `inner` is also in `outer`. */
export function prefixContains(outer: Prefix6, inner: Prefix6): boolean {
  return outer.length <= inner.length && addressInPrefix(inner.address, outer);
}

/** True when the prefixes share an address, i.e. one contains the other. */
export function prefixesOverlap(a: Prefix6, b: Prefix6): boolean {
  return prefixContains(a, b) || prefixContains(b, a);
}

export function addressInPrefix(addr: bigint, p: Prefix6): boolean {
  return (addr & networkMask(p.length)) === firstAddress(p);
}

/** Throws unless prefixes of `length` can be carved out of `pool`. */
export function validatePoolLength(pool: Prefix6, length: number): void {
  if (!Number.isInteger(length) || length < pool.length || length > 128) {
    throw new AddressError(
      `cannot split ${formatPrefix6(pool)} into /${length} prefixes: the length must be between ${pool.length} and 128`,
    );
  }
}

/** How many prefixes of `length` fit in `pool`. */
export function subprefixCount(pool: Prefix6, length: number): bigint {
  validatePoolLength(pool, length);
  return 1n << BigInt(length - pool.length);
}

/** The `n`th (from 0, in address order) prefix of `length` inside `pool`. */
export function nthSubprefix(pool: Prefix6, length: number, n: bigint): Prefix6 {
  const count = subprefixCount(pool, length);
  if (n < 0n || n >= count) {
    throw new AddressError(
      `${formatPrefix6(pool)} has ${count} /${length} prefixes, numbered 0 to ${count - 1n}; there is no number ${n}`,
    );
  }
  return { address: firstAddress(pool) + n * blockSize(length), length };
}

/** The position of `sub` among the prefixes of its length in `pool`; inverse of nthSubprefix. */
export function subprefixIndex(pool: Prefix6, sub: Prefix6): bigint {
  if (!prefixContains(pool, sub)) {
    throw new AddressError(`${formatPrefix6(sub)} is not inside ${formatPrefix6(pool)}`);
  }
  return (firstAddress(sub) - firstAddress(pool)) / blockSize(sub.length);
}
