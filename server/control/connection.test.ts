import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { LiveSession, LoginRequest, SessionControl } from "../broker/broker.ts";
import { silentLogger } from "../log.ts";
import { tunnelResponse } from "../protocol/challenge.ts";
import { isFinalRefusal, TEMPORARY_FAILURE } from "../protocol/replies.ts";
import { ControlConnection, DEFAULT_TIMEOUTS, LINES_PER_TURN, type ControlLink, type LoginPort } from "./connection.ts";

const PASSWORD = "correct-horse";

/** A broker that accepts alice with PASSWORD and fails loudly for the user "boom". */
function fakeBroker(ended: string[], loginMs: number): LoginPort {
  return {
    async login(req: LoginRequest, control: SessionControl) {
      if (loginMs > 0) await new Promise((r) => setTimeout(r, loginMs));
      if (req.command.user === "boom") throw new Error("database is down");
      if (req.command.response.toLowerCase() !== tunnelResponse("alice", req.challenge, PASSWORD)) {
        return { reply: "-ERR authentication failed.", session: null };
      }
      const session = { id: 1, userName: "alice", control, ended: false } as unknown as LiveSession;
      return { reply: "+OK 192.0.2.1 198.51.100.1", session };
    },
    async end(_session, reason) {
      ended.push(reason);
    },
    async attach() {
      return { ok: false, reply: "-ERR unknown or expired token" };
    },
  };
}

/** `window`: reply bytes the fake link takes before it reports the peer as not reading. */
function harness(partialLineMs = 20, loginMs = 0, window = Infinity) {
  const timeouts = { ...DEFAULT_TIMEOUTS, partialLineMs };
  const written: string[] = [];
  let closed = false;
  let paused = false;
  let queued = 0;
  const ended: string[] = [];
  const link: ControlLink = {
    clientIpv4: "192.0.2.1",
    clientPort: 40000,
    localIpv4: "198.51.100.1",
    attachPort: null,
    write: (text) => {
      written.push(text);
      queued += text.length;
      return queued < window;
    },
    pause: () => (paused = true),
    resume: () => (paused = false),
    end: () => {
      closed = true;
    },
  };
  const conn = new ControlConnection(link, fakeBroker(ended, loginMs), timeouts, silentLogger);
  conn.start();
  const challenge = written[0]!.split(" ")[1]!;
  const settle = () => new Promise((r) => setTimeout(r, 2 * partialLineMs + 2 * loginMs + 5));
  const drain = () => {
    queued = 0;
    conn.drained();
  };
  return { conn, written, ended, challenge, settle, drain, isClosed: () => closed, isPaused: () => paused };
}

test("every reply is one CRLF-terminated +OK/-ERR line, whatever bytes arrive", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.constantFrom("ping\r\n", "quit\n", "tunnel alice x host\n", "tunnel boom 0 host\n", "help", "\r\n", "TUNNEL a b c proto=udp port=99999\n"),
        ),
        { maxLength: 12 },
      ),
      async (chunks) => {
        const h = harness(1);
        for (const chunk of chunks) h.conn.receive(Buffer.from(chunk as Uint8Array | string));
        await h.settle();
        h.conn.disconnected();
        await h.settle();
        const [greeting, ...replies] = h.written;
        assert.match(greeting!, /^\+OK [0-9A-F]{32} KAME tunnel server\r\n$/);
        for (const reply of replies) assert.match(reply, /^[+-](OK|ERR)[^\r\n]*\r\n$/);
      },
    ),
    { numRuns: 300 },
  );
});

test("a failing broker tells the client to come back later and the connection keeps answering", async () => {
  const h = harness();
  h.conn.receive(Buffer.from("tunnel boom 00 host\r\nping\r\n"));
  await h.settle();
  assert.deepEqual(h.written.slice(1), [`${TEMPORARY_FAILURE}\r\n`, "+OK hi, happy to hear from you\r\n"]);
  assert.equal(isFinalRefusal(TEMPORARY_FAILURE), false, "dtcpc -l retries it");
  h.conn.disconnected();
});

test("commands are answered in order even while a login is in flight", async () => {
  const h = harness();
  const response = tunnelResponse("alice", h.challenge, PASSWORD).toUpperCase();
  h.conn.receive(Buffer.from(`tunnel alice ${response} host\r\nping\r\nquit\r\n`));
  await h.settle();
  assert.deepEqual(h.written.slice(1), ["+OK 192.0.2.1 198.51.100.1\r\n", "+OK hi, happy to hear from you\r\n", "+OK see you soon.\r\n"]);
  assert.ok(h.isClosed());
  h.conn.disconnected();
  await h.settle();
  assert.deepEqual(h.ended, ["quit"]);
});

test("a client that leaves during its login has the new session ended", async () => {
  const h = harness(20, 10);
  const response = tunnelResponse("alice", h.challenge, PASSWORD);
  h.conn.receive(Buffer.from(`tunnel alice ${response} host\n`));
  await new Promise((r) => setImmediate(r));
  h.conn.disconnected();
  await h.settle();
  assert.deepEqual(h.ended, ["closed"]);
});

test("an unterminated line is processed after the partial-line delay", async () => {
  const h = harness();
  h.conn.receive(Buffer.from("pi"));
  h.conn.receive(Buffer.from("ng"));
  assert.equal(h.written.length, 1);
  await h.settle();
  assert.deepEqual(h.written.slice(1), ["+OK hi, happy to hear from you\r\n"]);
  h.conn.disconnected();
});

test("a peer that does not read gets no further answers, and is no longer read once a few lines wait", () => {
  const h = harness(20, 0, 200);
  const line = "help\r\n";
  h.conn.receive(Buffer.from(line.repeat(1000)));
  const answered = h.written.length - 1;
  assert.ok(answered >= 1 && answered <= 10, `only the replies that fit the window are made (${answered})`);
  assert.ok(h.isPaused(), "reading stops while the lines wait");
  h.drain();
  assert.ok(h.written.length - 1 > answered, "answering goes on once the replies drain");
  for (let i = 0; i < 200 && h.written.length - 1 < 1000; i++) h.drain();
  assert.equal(h.written.length - 1, 1000, "every line is answered, in order, in the end");
  assert.ok(h.written.slice(1).every((r) => r === "+OK valid commands are: TUNNEL PING QUIT\r\n"));
  assert.equal(h.isPaused(), false, "reading resumes once the backlog is answered");
  h.conn.disconnected();
});

test("a pipelined batch is answered a few lines per turn of the event loop, so other clients are served in between", async () => {
  const h = harness();
  h.conn.receive(Buffer.from("ping\r\n".repeat(2000)));
  assert.equal(h.written.length - 1, LINES_PER_TURN, "one turn's worth, then the connection yields");
  assert.ok(h.isPaused(), "the rest waits unread from the peer");
  let turns = 1;
  while (h.written.length - 1 < 2000 && turns < 1000) {
    await new Promise((r) => setImmediate(r));
    turns++;
  }
  assert.equal(h.written.length - 1, 2000, "every line is answered in the end");
  assert.equal(turns, Math.ceil(2000 / LINES_PER_TURN));
  assert.equal(h.isPaused(), false);
  h.conn.disconnected();
});

test("a connection that closes with a pipelined backlog answers nothing more", async () => {
  const h = harness();
  h.conn.receive(Buffer.from("ping\r\n".repeat(200)));
  h.conn.disconnected();
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(h.written.length - 1, LINES_PER_TURN);
});
