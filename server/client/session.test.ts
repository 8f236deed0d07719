import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { tunnelResponse } from "../protocol/challenge.ts";
import * as replies from "../protocol/replies.ts";
import { ControlSession, QUIT_TIMEOUT_MS, type SessionParams } from "./session.ts";

const CHALLENGE = "0B1517C87D516A5FA65BED722D51A04F";
const GREETING = `+OK ${CHALLENGE} KAME tunnel server`;
const LOCAL = "10.0.0.2";
const HOST_REPLY = `+OK ${LOCAL} 10.0.0.1 2001:db8::2 2001:db8::1`;

function session(extra: Partial<SessionParams> = {}): ControlSession {
  return new ControlSession({ user: "foo", password: "bar", type: "host", transport: { kind: "proto41" }, acceptNat: false, pingIntervalMs: 60_000, replyTimeoutMs: 30_000, ...extra });
}

/** A session that has received the greeting and sent `tunnel`. */
function awaitingReply(extra: Partial<SessionParams> = {}): ControlSession {
  const s = session(extra);
  s.begin();
  s.connected(LOCAL);
  s.line(GREETING);
  return s;
}

function upSession(): ControlSession {
  const s = awaitingReply();
  s.line(HOST_REPLY);
  return s;
}

describe("login", () => {
  test("answers the greeting's challenge (KAME's test vector) and hides the response from the log", () => {
    const s = session();
    assert.deepEqual(s.begin(), [{ kind: "timer", ms: 30_000 }]);
    assert.deepEqual(s.connected(LOCAL), [{ kind: "timer", ms: 30_000 }]);
    assert.deepEqual(s.line(GREETING), [
      { kind: "challenge", challenge: CHALLENGE },
      { kind: "send", line: "tunnel foo DAC487C8DFBBF9EE5C7F8CDCC37B62A3 host", log: "tunnel foo <response> host" },
      { kind: "timer", ms: 30_000 },
    ]);
    assert.equal(tunnelResponse("foo", CHALLENGE, "bar"), "dac487c8dfbbf9ee5c7f8cdcc37b62a3");
  });

  test("takes the second word of any greeting as the challenge", () => {
    const s = session({ type: "network" });
    s.connected(LOCAL);
    const challenge = "0123456789abcdef0123456789abcdef";
    const send = s.line(`+OK ${challenge} FBDC TunnelBroker (version 0.2) Ready. <870363>:4096`).find((a) => a.kind === "send");
    assert.equal((send as { line: string }).line, `tunnel foo ${tunnelResponse("foo", challenge, "bar").toUpperCase()} network`);
  });

  test("sends no response to a challenge that is not 32 hex digits: a server must not choose what gets hashed", () => {
    for (const challenge of ["abc", "0".repeat(31), "0".repeat(33), "0B1517C87D516A5FA65BED722D51A04G", "$(reboot)"]) {
      const s = session();
      s.connected(LOCAL);
      const actions = s.line(`+OK ${challenge} KAME tunnel server`);
      assert.equal(actions.length, 1, challenge);
      assert.equal(actions[0]!.kind, "end", challenge);
      assert.match((actions[0] as { end: { message: string } }).end.message, /challenge is not 32 hex digits/);
    }
  });

  test("asks for UDP with the server-visible port, or none for NAT traversal", () => {
    const line = (transport: SessionParams["transport"]) => {
      const s = session({ type: "tunnelonly", transport });
      s.connected(LOCAL);
      return (s.line(GREETING).find((a) => a.kind === "send") as { log: string }).log;
    };
    assert.equal(line({ kind: "udp", port: 4028 }), "tunnel foo <response> tunnelonly proto=udp port=4028");
    assert.equal(line({ kind: "udp", port: null }), "tunnel foo <response> tunnelonly proto=udp");
    assert.equal(line({ kind: "tcp" }), "tunnel foo <response> tunnelonly proto=tcp");
  });

  test("a tunnel reply brings the tunnel up and starts the ping clock", () => {
    const s = awaitingReply();
    assert.deepEqual(s.line(HOST_REPLY), [
      { kind: "up", reply: { clientIPv4: LOCAL, serverIPv4: "10.0.0.1", serverUdpPort: null, tcp: null, type: "host", clientIPv6: "2001:db8::2", serverIPv6: "2001:db8::1" } },
      { kind: "timer", ms: 60_000 },
    ]);
    assert.equal(s.state, "up");
  });

  test("behind a NAT: refused with KAME's words unless -n", () => {
    const natted = HOST_REPLY.replace(`+OK ${LOCAL}`, "+OK 198.51.100.7");
    const s = awaitingReply();
    assert.deepEqual(s.line(natted), [
      { kind: "send", line: "quit", log: "quit" },
      { kind: "timer", ms: QUIT_TIMEOUT_MS },
    ]);
    assert.deepEqual(s.line("+OK see you soon."), [
      { kind: "end", end: { reason: "refused", message: "you are behind a NAT box (the server sees 198.51.100.7, this host is 10.0.0.2); use -n" } },
    ]);
    assert.equal(awaitingReply({ acceptNat: true }).line(natted)[0]?.kind, "up");
    // Where the server answers what the NAT shows it, the NAT is no reason to refuse.
    assert.equal(awaitingReply({ transport: { kind: "udp", port: null } }).line(natted.replace(/$/, " udp=4028"))[0]?.kind, "up");
    assert.equal(awaitingReply({ transport: { kind: "tcp" } }).line(`${natted} tcp=443 token=${"0".repeat(32)}`)[0]?.kind, "up");
    assert.equal(awaitingReply({ transport: { kind: "udp", port: 4028 } }).line(natted.replace(/$/, " udp=4028"))[0]?.kind, "send", "a port announced through a NAT is not reached");
  });

  test("refusals that asking again cannot change end dtcpc; the server's own failures and limits are deferred", () => {
    const reason = (line: string) => (awaitingReply().line(line)[0] as { end: { reason: string } }).end.reason;
    assert.deepEqual(awaitingReply().line("-ERR authentication failed."), [
      { kind: "end", end: { reason: "refused", message: "the server refused the tunnel: -ERR authentication failed." } },
    ]);
    const final = [
      replies.AUTH_FAILED,
      replies.USER_REVOKED,
      replies.USER_MOVED,
      replies.INVALID_COMMAND,
      replies.PORT_NEEDS_UDP,
      replies.unsupportedOption("proto=udp"),
      replies.invalidOption("port=0"),
      replies.duplicateOption("proto"),
      replies.unsupportedTunnelType("bogus"),
    ];
    for (const line of final) assert.equal(reason(line), "refused", line);
    const later = [
      replies.TEMPORARY_FAILURE,
      replies.SOLD_OUT,
      replies.TIMED_OUT,
      replies.TOO_MANY_FAILURES,
      replies.tooManyLogins(6),
      replies.SERVER_SHUTTING_DOWN,
      replies.TCP_NOT_ENABLED,
      "-ERR internal error",
      "-ERR tunnel set-up failed",
      "-ERR no prefix is delegated to alice",
      "-ERR something this client has never heard of",
    ];
    for (const line of later) assert.equal(reason(line), "deferred", line);
  });

  test("a reply it cannot use is refused after a polite quit", () => {
    const s = awaitingReply({ transport: { kind: "udp", port: 4028 } });
    assert.equal(s.line(HOST_REPLY)[0]?.kind, "send");
    assert.deepEqual(s.closed(), [
      { kind: "end", end: { reason: "refused", message: `no udp=<port> in the reply to proto=udp: ${JSON.stringify(HOST_REPLY)}` } },
    ]);
  });

  test("silence and closed connections before the tunnel is up are losses", () => {
    const s = session();
    s.begin();
    assert.deepEqual(s.timer(), [{ kind: "end", end: { reason: "lost", message: "no connection within 30 s" } }]);
    assert.deepEqual(s.timer(), [], "nothing after the end");
    const refused = session();
    assert.deepEqual(refused.closed("connect ECONNREFUSED 10.0.0.1:20200"), [
      { kind: "end", end: { reason: "lost", message: "cannot connect: connect ECONNREFUSED 10.0.0.1:20200" } },
    ]);
    const greeted = session();
    greeted.connected(LOCAL);
    assert.deepEqual(greeted.timer(), [{ kind: "end", end: { reason: "lost", message: "no greeting within 30 s" } }]);
    assert.deepEqual(awaitingReply().timer(), [{ kind: "end", end: { reason: "lost", message: "no reply to tunnel within 30 s" } }]);
    const odd = session();
    odd.connected(LOCAL);
    assert.deepEqual(odd.line("-ERR too many connections"), [{ kind: "end", end: { reason: "lost", message: 'unexpected greeting "-ERR too many connections"' } }]);
    assert.deepEqual(awaitingReply().closed(), [{ kind: "end", end: { reason: "lost", message: "the server closed the connection" } }]);
  });
});

describe("keeping the session", () => {
  test("pings every interval; an +OK within the timeout keeps it, none ends it", () => {
    const s = upSession();
    assert.deepEqual(s.timer(), [
      { kind: "send", line: "ping", log: "ping" },
      { kind: "timer", ms: 30_000 },
    ]);
    assert.deepEqual(s.line("+OK hi, happy to hear from you"), [{ kind: "timer", ms: 60_000 }]);
    assert.deepEqual(s.line("+OK stray"), [], "an +OK nobody asked for changes nothing");
    s.timer();
    assert.deepEqual(s.timer(), [{ kind: "end", end: { reason: "lost", message: "no answer to ping within 30 s" } }]);
  });

  test("the server ending the session is a loss, except a replacement by another login or a kick", () => {
    assert.deepEqual(upSession().line("-ERR server shutting down"), [
      { kind: "end", end: { reason: "lost", message: "the server ended the session: -ERR server shutting down" } },
    ]);
    assert.deepEqual(upSession().closed(), [{ kind: "end", end: { reason: "lost", message: "the server closed the connection" } }]);
    assert.deepEqual(upSession().line("-ERR session replaced"), [
      { kind: "end", end: { reason: "refused", message: "session replaced: foo logged in elsewhere" } },
    ]);
    assert.deepEqual(upSession().line("-ERR session ended by an administrator"), [
      { kind: "end", end: { reason: "refused", message: "session ended by an administrator" } },
    ]);
  });

  test("quit waits for the goodbye, skipping the answer to a ping in flight", () => {
    const s = upSession();
    s.timer(); // ping sent
    assert.deepEqual(s.quit(), [
      { kind: "send", line: "quit", log: "quit" },
      { kind: "timer", ms: QUIT_TIMEOUT_MS },
    ]);
    assert.deepEqual(s.quit(), [], "a second quit adds nothing");
    assert.deepEqual(s.line("+OK hi, happy to hear from you"), []);
    assert.deepEqual(s.line("+OK see you soon."), [{ kind: "end", end: { reason: "quit" } }]);
  });

  test("quit ends at the close or the timeout if no goodbye comes; before connecting it ends at once", () => {
    const closed = upSession();
    closed.quit();
    assert.deepEqual(closed.closed(), [{ kind: "end", end: { reason: "quit" } }]);
    const silent = upSession();
    silent.quit();
    assert.deepEqual(silent.timer(), [{ kind: "end", end: { reason: "quit" } }]);
    const early = session();
    early.begin();
    assert.deepEqual(early.quit(), [{ kind: "end", end: { reason: "quit" } }]);
  });
});

/**
 * What KAME's dtcps.rb (1999) does with a login, strictly: it compares the response exactly with
 * its own uppercase hex of MD5(user + challenge + password), and answers in its own spacing.
 */
function strictKameServer(greeting: string, challenge: string, reply: string) {
  return {
    greeting,
    answer(line: string): string {
      const [verb, user, response, type] = line.split(" ");
      if (verb !== "tunnel" || user === undefined || type === undefined) return "-ERR invalid command";
      const expected = tunnelResponse(user, challenge, "bar").toUpperCase();
      return response === expected ? reply : "-ERR authentication failed.";
    },
  };
}

describe("against servers that are not this one", () => {
  const cases = [
    { name: "KAME dtcps", greeting: `+OK ${CHALLENGE} KAME tunnel server`, reply: HOST_REPLY },
    { name: "double spaces and tabs", greeting: `+OK  ${CHALLENGE}\tKAME tunnel server`, reply: `+OK  ${LOCAL}\t10.0.0.1  2001:db8::2 2001:db8::1` },
    { name: "extra words after the fields", greeting: GREETING, reply: `${HOST_REPLY} mtu=1280 comment` },
  ];
  for (const c of cases) {
    test(`logs in to ${c.name}`, () => {
      const server = strictKameServer(c.greeting, CHALLENGE, c.reply);
      const s = session();
      s.begin();
      s.connected(LOCAL);
      const sent = s.line(server.greeting).find((a) => a.kind === "send");
      assert.ok(sent && sent.kind === "send");
      const answer = server.answer(sent.line);
      assert.notEqual(answer, "-ERR authentication failed.", "the strict server took the response");
      const up = s.line(answer).find((a) => a.kind === "up");
      assert.ok(up && up.kind === "up", `not up after ${JSON.stringify(answer)}`);
      assert.equal(up.reply.type === "host" && up.reply.clientIPv6, "2001:db8::2");
    });
  }
});
