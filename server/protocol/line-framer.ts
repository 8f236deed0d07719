const LF = 0x0a;
const CR = 0x0d;

export type FrameEvent = { kind: "line"; text: string } | { kind: "too-long" };

/**
 * Splits the TCP control stream into lines. Lines end in LF with an optional
 * CR before it; bytes are decoded as latin1 so decoding never fails. A line
 * whose content (without the line ending) exceeds `maxLineBytes` yields one
 * `too-long` event, after which the framer yields nothing: the caller closes.
 */
export class LineFramer {
  readonly #maxLineBytes: number;
  // Unterminated bytes are kept as a list of pieces so that many small chunks
  // cost linear time; they are joined only when a line completes.
  #pieces: Buffer[] = [];
  #partialBytes = 0;
  #overflowed = false;

  constructor(maxLineBytes = 1024) {
    this.#maxLineBytes = maxLineBytes;
  }

  push(chunk: Buffer): FrameEvent[] {
    if (this.#overflowed) return [];
    const events: FrameEvent[] = [];
    let start = 0;
    for (let lf = chunk.indexOf(LF, start); lf !== -1; lf = chunk.indexOf(LF, start)) {
      this.#append(chunk.subarray(start, lf));
      start = lf + 1;
      const line = this.#take();
      if (line.length > this.#maxLineBytes) return this.#overflow(events);
      events.push({ kind: "line", text: line.toString("latin1") });
    }
    this.#append(chunk.subarray(start));
    if (this.#partialTooLong()) return this.#overflow(events);
    return events;
  }

  get hasPartial(): boolean {
    return this.#partialBytes > 0;
  }

  /**
   * Returns and clears the unterminated remainder, for clients that send
   * `ping` or `quit` without a line ending and wait for the answer.
   */
  takePartial(): string | null {
    return this.hasPartial ? this.#take().toString("latin1") : null;
  }

  #append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#pieces.push(bytes);
    this.#partialBytes += bytes.length;
  }

  /** Clears the buffered bytes and returns them without a trailing CR. */
  #take(): Buffer {
    const joined = Buffer.concat(this.#pieces, this.#partialBytes);
    this.#pieces = [];
    this.#partialBytes = 0;
    return joined.at(-1) === CR ? joined.subarray(0, -1) : joined;
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

  #overflow(events: FrameEvent[]): FrameEvent[] {
    this.#overflowed = true;
    this.#pieces = [];
    this.#partialBytes = 0;
    events.push({ kind: "too-long" });
    return events;
  }
}
