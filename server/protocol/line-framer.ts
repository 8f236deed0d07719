const LF = 0x0a;
const CR = 0x0d;

export type FrameEvent = { kind: "line"; text: string } | { kind: "too-long" };

/**
 * Splits the TCP control stream into lines. Lines end in LF with an optional
 * CR before it; bytes are decoded as latin1 so decoding never fails. A line
 * whose content (without the line ending) exceeds `maxLineBytes` yields one
 * `too-long` event, after which the framer yields nothing: the caller closes.
 *
 * Lines are pulled one at a time (`next`), so a reader that answers slowly
 * holds raw bytes, never a growing list of parsed lines; `bufferedBytes` tells
 * it when to stop reading from the peer.
 */
export class LineFramer {
  readonly #maxLineBytes: number;
  // Bytes up to and including the last LF received, not yet handed out.
  #complete: Buffer | null = null;
  #completeAt = 0;
  // Bytes after the last LF, kept as a list of pieces so that many small
  // chunks cost linear time; they are joined only when a line completes.
  #pieces: Buffer[] = [];
  #partialBytes = 0;
  // The unterminated remainder is over the limit: reported once the complete lines before it are out.
  #partialOverflowed = false;
  #done = false;

  constructor(maxLineBytes = 1024) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** Takes received bytes; lines come out of `next()`. */
  append(chunk: Buffer): void {
    if (this.#done || this.#partialOverflowed) return;
    const lastLf = chunk.lastIndexOf(LF);
    if (lastLf === -1) {
      this.#appendPartial(chunk);
    } else {
      const lines = Buffer.concat([...this.#remainingComplete(), ...this.#pieces, chunk.subarray(0, lastLf + 1)]);
      this.#complete = lines;
      this.#completeAt = 0;
      this.#pieces = [];
      this.#partialBytes = 0;
      this.#appendPartial(chunk.subarray(lastLf + 1));
    }
    if (this.#partialTooLong()) {
      this.#partialOverflowed = true;
      this.#pieces = [];
      this.#partialBytes = 0;
    }
  }

  /** The next line, `too-long` once, or null when no complete line is buffered. */
  next(): FrameEvent | null {
    if (this.#done) return null;
    const complete = this.#complete;
    if (complete !== null) {
      const lf = complete.indexOf(LF, this.#completeAt);
      let line = complete.subarray(this.#completeAt, lf);
      this.#completeAt = lf + 1;
      if (this.#completeAt === complete.length) this.#complete = null;
      if (line.at(-1) === CR) line = line.subarray(0, -1);
      if (line.length > this.#maxLineBytes) return this.#overflow();
      return { kind: "line", text: line.toString("latin1") };
    }
    return this.#partialOverflowed ? this.#overflow() : null;
  }

  /** Appends and returns every line now complete, for readers that answer at once. */
  push(chunk: Buffer): FrameEvent[] {
    this.append(chunk);
    const events: FrameEvent[] = [];
    for (let event = this.next(); event !== null; event = this.next()) events.push(event);
    return events;
  }

  /** Received bytes not yet handed out. */
  get bufferedBytes(): number {
    return (this.#complete === null ? 0 : this.#complete.length - this.#completeAt) + this.#partialBytes;
  }

  get hasPartial(): boolean {
    return this.#partialBytes > 0;
  }

  /**
   * Returns and clears the unterminated remainder, for clients that send
   * `ping` or `quit` without a line ending and wait for the answer. Null while
   * complete lines are still to be taken with `next()`.
   */
  takePartial(): string | null {
    if (!this.hasPartial || this.#complete !== null) return null;
    const joined = Buffer.concat(this.#pieces, this.#partialBytes);
    this.#pieces = [];
    this.#partialBytes = 0;
    return (joined.at(-1) === CR ? joined.subarray(0, -1) : joined).toString("latin1");
  }

  /**
   * Every byte received and not handed out, as it came, and the framer done: for a connection that
   * stops carrying lines (an attached data connection, whose packets may follow its `attach` line).
   */
  takeRest(): Buffer {
    const rest = Buffer.concat([...this.#remainingComplete(), ...this.#pieces]);
    this.#done = true;
    this.#complete = null;
    this.#pieces = [];
    this.#partialBytes = 0;
    return rest;
  }

  #remainingComplete(): Buffer[] {
    return this.#complete === null ? [] : [this.#complete.subarray(this.#completeAt)];
  }

  #appendPartial(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#pieces.push(bytes);
    this.#partialBytes += bytes.length;
  }

  // A partial may hold one byte more than the limit when that byte is the CR
  // of a CRLF split across chunks; so whatever takePartial returns fits too.
  #partialTooLong(): boolean {
    const excess = this.#partialBytes - this.#maxLineBytes;
    if (excess <= 0) return false;
    if (excess > 1) return true;
    const last = this.#pieces.at(-1);
    return last?.at(-1) !== CR;
  }

  #overflow(): FrameEvent {
    this.#done = true;
    this.#complete = null;
    this.#pieces = [];
    this.#partialBytes = 0;
    return { kind: "too-long" };
  }
}
