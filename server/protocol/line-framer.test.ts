import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { LineFramer, type FrameEvent } from "./line-framer.ts";

const bytes = (text: string) => Buffer.from(text, "latin1");
const lines = (...texts: string[]): FrameEvent[] => texts.map((text) => ({ kind: "line", text }));

function feed(framer: LineFramer, ...chunks: string[]): FrameEvent[] {
  return chunks.flatMap((chunk) => framer.push(bytes(chunk)));
}

describe("LineFramer", () => {
  it("splits CRLF lines (KAME client)", () => {
    const framer = new LineFramer();
    assert.deepEqual(feed(framer, "tunnel foo ABC host\r\nping\r\n"), lines("tunnel foo ABC host", "ping"));
    assert.equal(framer.hasPartial, false);
  });

  it("splits LF lines (Python client) and mixed endings", () => {
    assert.deepEqual(feed(new LineFramer(), "ping\nquit\n"), lines("ping", "quit"));
    assert.deepEqual(feed(new LineFramer(), "a\r\nb\nc\r\n"), lines("a", "b", "c"));
  });

  it("keeps empty lines and strips only one CR before LF", () => {
    assert.deepEqual(feed(new LineFramer(), "\r\n\n"), lines("", ""));
    assert.deepEqual(feed(new LineFramer(), "a\r\r\n"), lines("a\r"));
    assert.deepEqual(feed(new LineFramer(), "a\rb\n"), lines("a\rb"));
  });

  it("reassembles lines across chunk boundaries, including a split CRLF", () => {
    const framer = new LineFramer();
    assert.deepEqual(feed(framer, "pi"), []);
    assert.equal(framer.hasPartial, true);
    assert.deepEqual(feed(framer, "ng\r"), []);
    assert.deepEqual(feed(framer, "\nqu", "it\r\n"), lines("ping", "quit"));
    assert.equal(framer.hasPartial, false);
  });

  it("hands out a line sent without a line ending once the caller asks", () => {
    const framer = new LineFramer();
    assert.deepEqual(feed(framer, "ping"), []);
    assert.equal(framer.takePartial(), "ping");
    assert.equal(framer.hasPartial, false);
    assert.equal(framer.takePartial(), null);
    assert.deepEqual(feed(framer, "quit\r\n"), lines("quit"));
  });

  it("drops a trailing CR from a taken partial", () => {
    const framer = new LineFramer();
    feed(framer, "ping\r");
    assert.equal(framer.takePartial(), "ping");
  });

  it("decodes every byte as latin1", () => {
    const framer = new LineFramer();
    const events = framer.push(Buffer.from([0xff, 0x00, 0xc3, 0x28, 0x0a]));
    assert.deepEqual(events, lines("\u00ff\u0000\u00c3("));
  });

  describe("line length limit", () => {
    const max = 1024;
    const exact = "x".repeat(max);

    it("allows a line of exactly maxLineBytes, with either ending", () => {
      assert.deepEqual(feed(new LineFramer(), `${exact}\r\n`), lines(exact));
      assert.deepEqual(feed(new LineFramer(), `${exact}\n`), lines(exact));
      assert.deepEqual(feed(new LineFramer(), exact, "\r", "\n"), lines(exact));
      const framer = new LineFramer();
      feed(framer, exact, "\r");
      assert.equal(framer.takePartial(), exact);
    });

    it("reports one byte more as too-long, then goes silent", () => {
      const framer = new LineFramer();
      assert.deepEqual(feed(framer, `ping\r\n${exact}x\r\nping\r\n`), [
        ...lines("ping"),
        { kind: "too-long" },
      ]);
      assert.deepEqual(feed(framer, "ping\r\n"), []);
      assert.equal(framer.hasPartial, false);
      assert.equal(framer.takePartial(), null);
    });

    it("reports an unterminated line as soon as it exceeds the limit", () => {
      const framer = new LineFramer();
      assert.deepEqual(feed(framer, exact), []);
      assert.deepEqual(feed(framer, "x"), [{ kind: "too-long" }]);
      assert.deepEqual(feed(framer, "\n"), []);
    });

    it("counts a CR without LF after maxLineBytes as content", () => {
      const framer = new LineFramer();
      assert.deepEqual(feed(framer, exact, "\r"), []);
      assert.deepEqual(feed(framer, "x"), [{ kind: "too-long" }]);
    });

    it("honours a custom limit", () => {
      assert.deepEqual(feed(new LineFramer(4), "ping\nquit!\n"), [...lines("ping"), { kind: "too-long" }]);
    });
  });

  describe("pulling one line at a time", () => {
    it("keeps the lines as bytes until they are taken, and says how many are buffered", () => {
      const framer = new LineFramer();
      framer.append(bytes("ping\r\nhelp\nqu"));
      assert.equal(framer.bufferedBytes, 13);
      assert.deepEqual(framer.next(), { kind: "line", text: "ping" });
      assert.equal(framer.bufferedBytes, 7);
      assert.equal(framer.takePartial(), null, "no partial is handed out while complete lines wait");
      framer.append(bytes("it\n"));
      assert.deepEqual(framer.next(), { kind: "line", text: "help" });
      assert.deepEqual(framer.next(), { kind: "line", text: "quit" });
      assert.equal(framer.next(), null);
      assert.equal(framer.bufferedBytes, 0);
    });

    it("reports an over-long unterminated line only after the complete lines before it", () => {
      const framer = new LineFramer(8);
      framer.append(bytes("ping\nhelp\n123456789"));
      assert.deepEqual(framer.next(), { kind: "line", text: "ping" });
      framer.append(bytes("more bytes that are dropped"));
      assert.equal(framer.bufferedBytes, 5, "what follows an over-long line is not kept");
      assert.deepEqual(framer.next(), { kind: "line", text: "help" });
      assert.deepEqual(framer.next(), { kind: "too-long" });
      assert.equal(framer.next(), null);
      assert.equal(framer.bufferedBytes, 0);
    });
  });

  it("handles a long stream of one-byte chunks in linear time: each byte is copied a bounded number of times", () => {
    const framer = new LineFramer(1 << 20);
    const line = "y".repeat(200_000);
    const chunk = bytes(line);
    // Counted, not timed: quadratic copying of 200 kB one byte at a time copies some 20 GB.
    const concat = Buffer.concat;
    let copied = 0;
    Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
      const joined = concat(list, total);
      copied += joined.length;
      return joined;
    }) as typeof Buffer.concat;
    let events;
    try {
      for (let i = 0; i < chunk.length; i++) framer.push(chunk.subarray(i, i + 1));
      events = framer.push(bytes("\n"));
    } finally {
      Buffer.concat = concat;
    }
    assert.deepEqual(events, lines(line));
    assert.ok(copied <= 2 * (chunk.length + 1), `${copied} bytes copied for ${chunk.length + 1} received`);
  });

  it("yields the same lines for any chunking of a stream as splitting it whole", () => {
    const byte = fc.oneof(
      { arbitrary: fc.constantFrom(0x0a, 0x0d), weight: 1 },
      { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 3 },
    );
    fc.assert(
      fc.property(
        fc.array(byte, { maxLength: 400 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.integer({ min: 1, max: 24 }),
        (streamBytes, cuts, max) => {
          const stream = Buffer.from(streamBytes);
          const framer = new LineFramer(max);
          const points = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b);
          const events: FrameEvent[] = [];
          let start = 0;
          for (const point of [...points, stream.length]) {
            events.push(...framer.push(stream.subarray(start, point)));
            start = point;
          }
          const expected = splitWhole(stream, max);
          assert.deepEqual(events, expected.events);
          assert.equal(framer.takePartial(), expected.partial);
        },
      ),
    );
  });
});

/** The reference: split the complete stream at LF, then apply the limit line by line. */
function splitWhole(stream: Buffer, max: number): { events: FrameEvent[]; partial: string | null } {
  const withoutCR = (text: string) => (text.endsWith("\r") ? text.slice(0, -1) : text);
  const parts = stream.toString("latin1").split("\n");
  const unterminated = parts.pop() ?? "";
  const rest = withoutCR(unterminated);
  const events: FrameEvent[] = [];
  for (const part of parts) {
    const text = withoutCR(part);
    if (text.length > max) return { events: [...events, { kind: "too-long" }], partial: null };
    events.push({ kind: "line", text });
  }
  if (rest.length > max) return { events: [...events, { kind: "too-long" }], partial: null };
  return { events, partial: unterminated === "" ? null : rest };
}
