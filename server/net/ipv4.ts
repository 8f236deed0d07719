import { AddressError, quote } from './errors.ts';

// Each octet is 0..255 written without leading zeros: "010" is octal to some
// parsers and decimal to others, so we refuse to guess.
const OCTET = '(0|[1-9][0-9]{0,2})';
const DOTTED_QUAD = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** Parses a strict dotted quad ("192.0.2.1") into a 32-bit unsigned integer. */
export function parseIpv4(s: string): number {
  const match = DOTTED_QUAD.exec(s);
  if (match === null) throw new AddressError(`${quote(s)} is not an IPv4 address`);
  let value = 0;
  for (const octet of match.slice(1)) {
    const n = Number(octet);
    if (n > 255) throw new AddressError(`${quote(s)} is not an IPv4 address (${n} is more than 255)`);
    value = value * 256 + n; // not `<<`: bitwise operators would go negative above 2^31
  }
  return value;
}

/** Formats a 32-bit unsigned integer as a dotted quad. */
export function formatIpv4(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new RangeError(`${n} is not a 32-bit unsigned integer`);
  }
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

export function isIpv4(s: string): boolean {
  try {
    parseIpv4(s);
    return true;
  } catch {
    return false;
  }
}

const MAPPED = /^::ffff:(.*)$/i;

/**
 * Dual-stack sockets report IPv4 peers as IPv4-mapped IPv6 addresses
 * ("::ffff:192.0.2.1"); this returns the plain IPv4 form ("192.0.2.1") and
 * leaves every other string unchanged.
 */
export function unmapIpv4(s: string): string {
  const tail = MAPPED.exec(s)?.[1];
  return tail !== undefined && isIpv4(tail) ? tail : s;
}
