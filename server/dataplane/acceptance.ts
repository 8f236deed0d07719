// Which packets from a client's side are accepted (BCP 38 and outer-source checks) and which
// may move a session's binding. Server ports and addresses are guessable, so a stranger must
// not be able to inject traffic as a session or steer its downstream traffic to themselves.
//
// Rules (strict mode, the default):
//   - the outer IPv4 source must be the control connection's address (else wrongOuterSource);
//   - the inner IPv6 source must be owned by the session (its clientIpv6, inside its delegated
//     prefix) or link-local (else spoofedSource);
//   - an empty UDP datagram (a NAT keepalive) has no inner source and passes on the outer check;
//   - any accepted datagram moves a NAT-traversal session's binding to its source address:port.
// tunnelonly sessions own no addresses (this broker gives them none and routes nothing to them),
// so only link-local inner sources pass: accepting any global source would let a client inject
// packets with forged sources, which BCP 38 forbids.
//
// Relaxed mode (strictOuterSource false, for carrier-grade NATs that pool public addresses, so
// that the tunnel's packets may leave from another address than the control connection's): a
// packet from another outer address must prove itself with an inner source the session owns;
// link-local packets and keepalives from another address are accepted only from the current
// binding's address. Anyone knowing a client's IPv6 address and server port can then steer that
// session's binding: the price of the mode, hence not the default.

import {
  DROP_MALFORMED,
  DROP_SPOOFED_SOURCE,
  DROP_WRONG_OUTER_SOURCE,
  type DropField,
} from "./counters.ts";
import { isIpv6Packet, isLinkLocalAt, SOURCE_OFFSET, wordAt, wordMask, type WordPrefix } from "./packet.ts";

/** What a packet's inner source (or its absence) says about it. */
export const OWNED = 0;
export const LINK_LOCAL = 1;
export const FOREIGN = 2;
/** An empty UDP datagram: a keepalive. */
export const EMPTY = 3;
export const MALFORMED = 4;
export type SourceClass = typeof OWNED | typeof LINK_LOCAL | typeof FOREIGN | typeof EMPTY | typeof MALFORMED;

/** The addresses a session may use as inner source: at most a /128 and a prefix. */
export class SourceFilter {
  readonly #words = new Uint32Array(8);
  readonly #masks = new Uint32Array(8);
  readonly #count: number;

  constructor(owned: readonly WordPrefix[]) {
    if (owned.length > 2) throw new RangeError("a session owns at most an address and a prefix");
    owned.forEach((p, k) => {
      for (let i = 0; i < 4; i++) {
        this.#masks[k * 4 + i] = wordMask(p.length, i);
        this.#words[k * 4 + i] = (p.words[i]! & this.#masks[k * 4 + i]!) >>> 0;
      }
    });
    this.#count = owned.length;
  }

  /** Classifies the datagram or packet buf[off, off+len) by its inner source. */
  classify(buf: Uint8Array, off: number, len: number): SourceClass {
    if (len === 0) return EMPTY;
    if (!isIpv6Packet(buf, off, len)) return MALFORMED;
    const at = off + SOURCE_OFFSET;
    if (this.owns(buf, at)) return OWNED;
    return isLinkLocalAt(buf, at) ? LINK_LOCAL : FOREIGN;
  }

  /** True when the address at buf[at..at+16) is inside one of the owned prefixes. */
  owns(buf: Uint8Array, at: number): boolean {
    const w = this.#words;
    const m = this.#masks;
    for (let k = 0; k < this.#count * 4; k += 4) {
      if (
        ((wordAt(buf, at) & m[k]!) >>> 0) === w[k] &&
        ((wordAt(buf, at + 4) & m[k + 1]!) >>> 0) === w[k + 1] &&
        ((wordAt(buf, at + 8) & m[k + 2]!) >>> 0) === w[k + 2] &&
        ((wordAt(buf, at + 12) & m[k + 3]!) >>> 0) === w[k + 3]
      ) {
        return true;
      }
    }
    return false;
  }
}

/** Accepted: write it to the TUN. */
export const FORWARD = -1;
/** Accepted keepalive: refreshes the binding and the last-packet time; nothing to forward. */
export const KEEPALIVE = -2;
/** FORWARD, KEEPALIVE, or the counter field of the drop reason. */
export type Verdict = typeof FORWARD | typeof KEEPALIVE | DropField;

/** What the decision needs to know about the session. */
export interface AcceptancePolicy {
  /** The control connection's IPv4 (uint32). */
  readonly clientIpv4: number;
  /** The IPv4 (uint32) packets for the client go to now; -1 when there is none yet. */
  readonly bindingAddress: number;
}

/** Decides on one packet of class cls that arrived from outer IPv4 source `outer`. */
export function judge(s: AcceptancePolicy, strictOuterSource: boolean, outer: number, cls: SourceClass): Verdict {
  const fromClient = outer === s.clientIpv4;
  if (!fromClient && strictOuterSource) return DROP_WRONG_OUTER_SOURCE;
  if (cls === MALFORMED) return DROP_MALFORMED;
  if (cls === FOREIGN) return DROP_SPOOFED_SOURCE;
  if (fromClient || cls === OWNED || outer === s.bindingAddress) return cls === EMPTY ? KEEPALIVE : FORWARD;
  return DROP_WRONG_OUTER_SOURCE;
}
