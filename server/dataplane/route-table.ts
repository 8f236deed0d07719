// Longest-prefix match from an IPv6 destination to a session slot, with no allocation per lookup.
//
// One open-addressing hash table per prefix length in use (a broker has few: /128 host
// addresses and the delegation sizes), keyed by the four masked address words; a lookup probes
// the lengths in use, longest first. With 10k sessions this costs a few tens of nanoseconds
// (see route-table.test.ts for the figure on this machine).

import { wordAt, wordMask, type WordPrefix } from "./packet.ts";

const EMPTY = -1;

function hash(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w0, 0x9e3779b1) ^ Math.imul(w1, 0x85ebca77) ^ Math.imul(w2, 0xc2b2ae3d) ^ Math.imul(w3, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 12);
}

/** Masked keys of one prefix length → values (non-negative integers). Linear probing, load ≤ 1/2. */
class LengthTable {
  keys: Uint32Array;
  values: Int32Array;
  mask: number;
  size = 0;

  constructor(capacity = 16) {
    this.keys = new Uint32Array(capacity * 4);
    this.values = new Int32Array(capacity).fill(EMPTY);
    this.mask = capacity - 1;
  }

  /** The slot holding the key, or the empty slot where it would go. */
  slotOf(w0: number, w1: number, w2: number, w3: number): number {
    const { keys, values, mask } = this;
    let i = hash(w0, w1, w2, w3) & mask;
    while (values[i] !== EMPTY) {
      const k = i * 4;
      if (keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 && keys[k + 3] === w3) return i;
      i = (i + 1) & mask;
    }
    return i;
  }

  put(w: readonly number[], value: number): void {
    if ((this.size + 1) * 2 > this.values.length) this.#grow();
    const i = this.slotOf(w[0]!, w[1]!, w[2]!, w[3]!);
    if (this.values[i] === EMPTY) this.size++;
    this.keys.set(w, i * 4);
    this.values[i] = value;
  }

  /** Removes the key at slot i, shifting later members of its probe run back (no tombstones). */
  removeAt(i: number): void {
    const { keys, values, mask } = this;
    values[i] = EMPTY;
    this.size--;
    for (let j = (i + 1) & mask; values[j] !== EMPTY; j = (j + 1) & mask) {
      const home = hash(keys[j * 4]!, keys[j * 4 + 1]!, keys[j * 4 + 2]!, keys[j * 4 + 3]!) & mask;
      // Entry j may fill the hole at i only if its home does not lie cyclically in (i, j].
      const homeInRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (homeInRange) continue;
      keys.copyWithin(i * 4, j * 4, j * 4 + 4);
      values[i] = values[j]!;
      values[j] = EMPTY;
      i = j;
    }
  }

  #grow(): void {
    const { keys, values } = this;
    const bigger = new LengthTable(values.length * 2);
    for (let i = 0; i < values.length; i++) {
      if (values[i] !== EMPTY) bigger.put(Array.from(keys.subarray(i * 4, i * 4 + 4)), values[i]!);
    }
    this.keys = bigger.keys;
    this.values = bigger.values;
    this.mask = bigger.mask;
  }
}

/** Maps IPv6 prefixes to values (session slots); lookups return the value of the longest match. */
export class RouteTable {
  readonly #tables: (LengthTable | undefined)[] = [];
  /** Prefix lengths with at least one entry, longest first. */
  #lengths = new Int32Array(0);
  /** wordMask(length, i) at [length * 4 + i]. */
  static readonly #masks = Uint32Array.from({ length: 129 * 4 }, (_, k) => wordMask(k >> 2, k & 3));

  /** The value stored for exactly this prefix, or -1. */
  get(p: WordPrefix): number {
    const t = this.#tables[p.length];
    if (!t) return EMPTY;
    const [w0, w1, w2, w3] = masked(p);
    return t.values[t.slotOf(w0, w1, w2, w3)]!;
  }

  /** Adds a prefix; throws if it is already present (two sessions never share a route). */
  add(p: WordPrefix, value: number): void {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`route value must be a non-negative integer: ${value}`);
    if (this.get(p) !== EMPTY) throw new Error(`duplicate route for /${p.length}`);
    let t = this.#tables[p.length];
    if (!t) {
      t = this.#tables[p.length] = new LengthTable();
      this.#lengths = Int32Array.from([...this.#lengths, p.length].sort((a, b) => b - a));
    }
    t.put(masked(p), value);
  }

  /** Removes a prefix; returns whether it was present. */
  remove(p: WordPrefix): boolean {
    const t = this.#tables[p.length];
    if (!t) return false;
    const [w0, w1, w2, w3] = masked(p);
    const i = t.slotOf(w0, w1, w2, w3);
    if (t.values[i] === EMPTY) return false;
    t.removeAt(i);
    if (t.size === 0) {
      this.#tables[p.length] = undefined;
      this.#lengths = this.#lengths.filter((l) => l !== p.length);
    }
    return true;
  }

  /** Longest match for the address at buf[at..at+16), or -1. */
  lookup(buf: Uint8Array, at: number): number {
    return this.lookupWords(wordAt(buf, at), wordAt(buf, at + 4), wordAt(buf, at + 8), wordAt(buf, at + 12));
  }

  lookupWords(a0: number, a1: number, a2: number, a3: number): number {
    const lengths = this.#lengths;
    const masks = RouteTable.#masks;
    for (let n = 0; n < lengths.length; n++) {
      const len = lengths[n]!;
      const t = this.#tables[len]!;
      const m = len * 4;
      const w0 = (a0 & masks[m]!) >>> 0;
      const w1 = (a1 & masks[m + 1]!) >>> 0;
      const w2 = (a2 & masks[m + 2]!) >>> 0;
      const w3 = (a3 & masks[m + 3]!) >>> 0;
      const v = t.values[t.slotOf(w0, w1, w2, w3)]!;
      if (v !== EMPTY) return v;
    }
    return EMPTY;
  }

  /** Number of prefixes stored. */
  get size(): number {
    let n = 0;
    for (const t of this.#tables) n += t?.size ?? 0;
    return n;
  }
}

function masked(p: WordPrefix): [number, number, number, number] {
  return p.words.map((w, i) => (w & wordMask(p.length, i)) >>> 0) as [number, number, number, number];
}
