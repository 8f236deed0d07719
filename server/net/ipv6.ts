import { AddressError, quote } from './errors.ts';
import { isIpv4, parseIpv4 } from './ipv4.ts';

const MAX_ADDRESS = (1n << 128n) - 1n;
const HEX_GROUP = /^[0-9a-f]{1,4}$/i;

function invalid(s: string, reason?: string): AddressError {
  const why = reason === undefined ? '' : ` (${reason})`;
  return new AddressError(`${quote(s)} is not an IPv6 address${why}`);
}

/**
 * Parses the 16-bit groups of one side of "::". Only the final side of the
 * whole address may end in an embedded IPv4 address, which counts as two groups.
 */
function parseGroups(s: string, side: string, ipv4TailAllowed: boolean): number[] {
  if (side === '') return [];
  const texts = side.split(':');
  const groups: number[] = [];
  texts.forEach((text, i) => {
    if (HEX_GROUP.test(text)) {
      groups.push(parseInt(text, 16));
    } else if (ipv4TailAllowed && i === texts.length - 1 && isIpv4(text)) {
      const v4 = parseIpv4(text);
      groups.push(v4 >>> 16, v4 & 0xffff);
    } else if (text === '') {
      throw invalid(s, 'empty group');
    } else {
      throw invalid(s, `${quote(text)} is not a group of 1 to 4 hex digits`);
    }
  });
  return groups;
}

/**
 * Parses any RFC 4291 text form: full, "::"-compressed, with an embedded
 * IPv4 tail, in any letter case. Zone ids ("fe80::1%eth0") are rejected:
 * they name a local interface and mean nothing to a tunnel broker.
 */
export function parseIpv6(s: string): bigint {
  if (s.includes('%')) throw invalid(s, 'zone ids are not allowed');
  const sides = s.split('::');
  if (sides.length > 2) throw invalid(s, '"::" may appear only once');
  const [head = '', tail] = sides;
  const compressed = tail !== undefined;
  const before = parseGroups(s, head, !compressed);
  const after = compressed ? parseGroups(s, tail, true) : [];
  const explicit = before.length + after.length;
  // "::" stands for at least one zero group.
  if (compressed ? explicit > 7 : explicit > 8) throw invalid(s, 'too many groups');
  if (!compressed && explicit < 8) throw invalid(s, 'too few groups');
  const groups = [...before, ...new Array<number>(8 - explicit).fill(0), ...after];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/**
 * Formats an address in RFC 5952 canonical form: lowercase hex without
 * leading zeros, the longest run of two or more zero groups (the leftmost
 * on a tie) written as "::".
 */
export function formatIpv6(n: bigint): string {
  if (n < 0n || n > MAX_ADDRESS) throw new RangeError(`${n} is not a 128-bit unsigned integer`);
  const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1; // a single zero group is never compressed
  let runStart = 0;
  groups.forEach((g, i) => {
    if (g !== 0) {
      runStart = i + 1;
    } else if (i - runStart + 1 > bestLength) {
      bestStart = runStart;
      bestLength = i - runStart + 1;
    }
  });
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

export function isIpv6(s: string): boolean {
  try {
    parseIpv6(s);
    return true;
  } catch {
    return false;
  }
}
