import { AddressError } from './errors.ts';
import { firstAddress, lastAddress, nthSubprefix, subprefixCount, validatePoolLength } from './prefix.ts';
import type { Prefix6 } from './prefix.ts';

// Lives in prefix.ts because the sub-prefix arithmetic there needs it too.
export { validatePoolLength };

/** Inclusive range of sub-prefix indexes. */
type IndexRange = { readonly first: bigint; readonly last: bigint };

/**
 * The lowest-addressed prefix of `length` inside `pool` that overlaps none
 * of `used`, or null when the pool is exhausted. `used` may hold prefixes of
 * any length, in any order, with duplicates, partly or wholly outside the
 * pool. Works on the ranges of candidate indexes each used prefix blocks, so
 * the cost is O(u log u) in the number of used prefixes however big the pool.
 */
export function firstFreeSubprefix(pool: Prefix6, length: number, used: readonly Prefix6[]): Prefix6 | null {
  const count = subprefixCount(pool, length);
  const poolFirst = firstAddress(pool);
  const poolLast = lastAddress(pool);
  const size = 1n << BigInt(128 - length);
  const blocked: IndexRange[] = [];
  for (const u of used) {
    const start = firstAddress(u);
    const end = lastAddress(u);
    if (end < poolFirst || start > poolLast) continue;
    // The candidates this range touches. A prefix reaching outside the pool
    // contains it, so its range runs past both ends; that is harmless here.
    blocked.push({ first: (start - poolFirst) / size, last: (end - poolFirst) / size });
  }
  blocked.sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  let candidate = 0n;
  for (const range of blocked) {
    if (range.first > candidate) break;
    if (range.last >= candidate) candidate = range.last + 1n;
  }
  return candidate < count ? nthSubprefix(pool, length, candidate) : null;
}

/**
 * The server and client addresses of a point-to-point link numbered from
 * `block`. A /127 has exactly two addresses and uses both (RFC 6164). In
 * anything larger the all-zero address is the Subnet-Router anycast address
 * (RFC 4291 §2.6.1), which routers also answer to, so the pair starts at +1.
 */
export function linkPair(block: Prefix6): { server: bigint; client: bigint } {
  if (block.length === 128) {
    throw new AddressError('a /128 holds a single address; a link needs a /127 or larger');
  }
  const base = firstAddress(block);
  return block.length === 127 ? { server: base, client: base + 1n } : { server: base + 1n, client: base + 2n };
}
