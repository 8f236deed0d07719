// IPv6 header fields read in place from a batch buffer: no slices, no allocation per packet.
// Addresses are handled as four big-endian 32-bit words (unsigned numbers).

import { parseIpv6 } from "../net/ipv6.ts";
import { parsePrefix6 } from "../net/prefix.ts";

export const IPV6_HEADER_LENGTH = 40;
/** Offsets of the addresses inside the IPv6 header. */
export const SOURCE_OFFSET = 8;
export const DESTINATION_OFFSET = 24;

/**
 * True when buf[off, off+len) is an IPv6 packet whose header is complete and whose announced
 * payload is present (trailing bytes are tolerated, as the kernel does).
 */
export function isIpv6Packet(buf: Uint8Array, off: number, len: number): boolean {
  if (len < IPV6_HEADER_LENGTH || buf[off]! >> 4 !== 6) return false;
  return IPV6_HEADER_LENGTH + ((buf[off + 4]! << 8) | buf[off + 5]!) <= len;
}

/** The big-endian 32-bit word at buf[at]. */
export function wordAt(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/** fe80::/10, whose packets never leave a link. */
export function isLinkLocalAt(buf: Uint8Array, at: number): boolean {
  return buf[at] === 0xfe && (buf[at + 1]! & 0xc0) === 0x80;
}

/** The mask of word i (0..3) of a prefix of this length. */
export function wordMask(length: number, i: number): number {
  const bits = Math.min(32, Math.max(0, length - 32 * i));
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** An IPv6 prefix as words with the host bits cleared. */
export interface WordPrefix {
  readonly words: readonly [number, number, number, number];
  readonly length: number;
}

function toWords(n: bigint): [number, number, number, number] {
  return [0, 1, 2, 3].map((i) => Number((n >> BigInt(96 - 32 * i)) & 0xffffffffn)) as [number, number, number, number];
}

/** "2001:db8::1" → the /128 of that address. */
export function addressPrefix(text: string): WordPrefix {
  return { words: toWords(parseIpv6(text)), length: 128 };
}

/** "2001:db8::/48" → that prefix; host bits must be clear. */
export function cidrPrefix(text: string): WordPrefix {
  const p = parsePrefix6(text);
  return { words: toWords(p.address), length: p.length };
}
