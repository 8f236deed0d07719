import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseCommand, type Command } from "./command.ts";
import { LineFramer } from "./line-framer.ts";

const HASH = "DAC487C8DFBBF9EE5C7F8CDCC37B62A3";

/** Parses what a client sent on the wire, through the framer as the server does. */
function parseWire(sent: string): Command[] {
  const framer = new LineFramer();
  const commands = framer.push(Buffer.from(sent, "latin1")).map((event) => {
    if (event.kind !== "line") assert.fail("line too long");
    return parseCommand(event.text);
  });
  const partial = framer.takePartial();
  return partial === null ? commands : [...commands, parseCommand(partial)];
}

const tunnel = (
  type: "tunnelonly" | "host" | "network",
  response: string,
  udp: { clientPort: number | null } | null = null,
  tcp = false,
): Command => ({ kind: "tunnel", user: "foo", response, type, udp, tcp });

const error = (reply: string): Command => ({ kind: "error", reply });

describe("parseCommand: client dialects", () => {
  it("KAME dtcpc: uppercase hash, CRLF", () => {
    assert.deepEqual(parseWire(`tunnel foo ${HASH} host\r\nping\r\nquit\r\n`), [
      tunnel("host", HASH),
      { kind: "ping" },
      { kind: "quit" },
    ]);
  });

  it("Python client: lowercase hash, LF, and ping/quit with no line ending", () => {
    const hash = HASH.toLowerCase();
    assert.deepEqual(parseWire(`tunnel foo ${hash} tunnelonly\n`), [tunnel("tunnelonly", hash)]);
    assert.deepEqual(parseWire("ping"), [{ kind: "ping" }]);
    assert.deepEqual(parseWire("quit"), [{ kind: "quit" }]);
  });

  it("accepts any casing of command and type words", () => {
    assert.deepEqual(parseCommand("PING"), { kind: "ping" });
    assert.deepEqual(parseCommand("Quit"), { kind: "quit" });
    assert.deepEqual(parseCommand("HeLp"), { kind: "help" });
    assert.deepEqual(parseCommand(`TUNNEL foo ${HASH} NETWORK`), tunnel("network", HASH));
  });

  it("keeps user and response exactly as sent", () => {
    assert.deepEqual(parseCommand(`tunnel FooBar ${HASH} host`), {
      ...tunnel("host", HASH),
      user: "FooBar",
    });
  });
});

describe("parseCommand: commands", () => {
  it("recognises each tunnel type, tunnelroute as network", () => {
    assert.deepEqual(parseCommand(`tunnel foo ${HASH} tunnelonly`), tunnel("tunnelonly", HASH));
    assert.deepEqual(parseCommand(`tunnel foo ${HASH} host`), tunnel("host", HASH));
    assert.deepEqual(parseCommand(`tunnel foo ${HASH} network`), tunnel("network", HASH));
    assert.deepEqual(parseCommand(`tunnel foo ${HASH} TunnelRoute`), tunnel("network", HASH));
  });

  it("splits on runs of spaces and tabs and ignores surrounding white space", () => {
    assert.deepEqual(parseCommand(` \ttunnel  foo\t\t${HASH} \t host \t`), tunnel("host", HASH));
    assert.deepEqual(parseCommand("  ping\t"), { kind: "ping" });
  });

  it("ignores words after ping, help and quit", () => {
    assert.deepEqual(parseCommand("ping 12345"), { kind: "ping" });
    assert.deepEqual(parseCommand("help me"), { kind: "help" });
    assert.deepEqual(parseCommand("quit now"), { kind: "quit" });
  });

  it("reports a blank line as empty", () => {
    assert.deepEqual(parseCommand(""), { kind: "empty" });
    assert.deepEqual(parseCommand(" \t "), { kind: "empty" });
  });
});

describe("parseCommand: UDP extension", () => {
  it("proto=udp with port= names the client's UDP port", () => {
    assert.deepEqual(parseCommand(`tunnel foo ${HASH} host proto=udp port=4028`), tunnel("host", HASH, { clientPort: 4028 }));
    assert.deepEqual(parseCommand(`tunnel foo ${HASH} host port=65535 proto=udp`), tunnel("host", HASH, { clientPort: 65535 }));
    assert.deepEqual(parseCommand(`tunnel foo ${HASH} host proto=udp port=1`), tunnel("host", HASH, { clientPort: 1 }));
  });

  it("proto=tcp asks for IPv6 over a TCP connection; attach names the token it was given", () => {
    assert.deepEqual(parseCommand(`tunnel foo ${HASH} network proto=tcp`), tunnel("network", HASH, null, true));
    assert.deepEqual(parseCommand(`tunnel foo ${HASH} host PROTO=TCP`), tunnel("host", HASH, null, true));
    assert.deepEqual(parseCommand(`attach ${"A1".repeat(16)}`), { kind: "attach", token: "a1".repeat(16) });
  });

  it("proto=udp without port= means NAT traversal", () => {
    assert.deepEqual(parseCommand(`tunnel foo ${HASH} tunnelonly proto=udp`), tunnel("tunnelonly", HASH, { clientPort: null }));
  });

  it("proto=41 is the explicit default", () => {
    assert.deepEqual(parseCommand(`tunnel foo ${HASH} network proto=41`), tunnel("network", HASH));
  });

  it("accepts any casing of option names and values", () => {
    assert.deepEqual(parseCommand(`tunnel foo ${HASH} host PROTO=UDP Port=4028`), tunnel("host", HASH, { clientPort: 4028 }));
  });
});

describe("parseCommand: errors", () => {
  const cases: Array<[string, string]> = [
    ["tunnel", "-ERR invalid command"],
    ["tunnel foo", "-ERR invalid command"],
    [`tunnel foo ${HASH}`, "-ERR invalid command"],
    ["hello", "-ERR invalid command"],
    ["pingpong", "-ERR invalid command"],
    ["\u212Aping", "-ERR invalid command"],
    [`tunnel foo ${HASH} bridge`, "-ERR unsupported tunnel type bridge"],
    [`tunnel foo ${HASH} HOSTS`, "-ERR unsupported tunnel type HOSTS"],
    [`tunnel foo ${HASH} host udp`, "-ERR unsupported option udp"],
    [`tunnel foo ${HASH} host mtu=1280`, "-ERR unsupported option mtu=1280"],
    [`tunnel foo ${HASH} host =udp`, "-ERR unsupported option =udp"],
    [`tunnel foo ${HASH} host proto=sctp`, "-ERR unsupported option proto=sctp"],
    [`tunnel foo ${HASH} host proto=tcp port=4028`, "-ERR option port needs proto=udp"],
    [`tunnel foo ${HASH} host proto=tcp proto=udp`, "-ERR duplicate option proto"],
    ["attach", "-ERR invalid command"],
    ["attach 1234", "-ERR invalid command"],
    [`attach ${"0".repeat(32)} more`, "-ERR invalid command"],
    [`attach ${"g".repeat(32)}`, "-ERR invalid command"],
    [`attach ${"0".repeat(33)}`, "-ERR invalid command"],
    [`attach z${"0".repeat(32)}`, "-ERR invalid command"],
    [`tunnel foo ${HASH} host port1`, "-ERR unsupported option port1"],
    [`tunnel foo ${HASH} host proto`, "-ERR unsupported option proto"],
    [`tunnel foo ${HASH} host proto=`, "-ERR unsupported option proto="],
    [`tunnel foo ${HASH} host proto=udp port=0`, "-ERR invalid option port=0"],
    [`tunnel foo ${HASH} host proto=udp port=65536`, "-ERR invalid option port=65536"],
    [`tunnel foo ${HASH} host proto=udp port=99999`, "-ERR invalid option port=99999"],
    [`tunnel foo ${HASH} host proto=udp port=abc`, "-ERR invalid option port=abc"],
    [`tunnel foo ${HASH} host proto=udp port=-1`, "-ERR invalid option port=-1"],
    [`tunnel foo ${HASH} host proto=udp port=0x10`, "-ERR invalid option port=0x10"],
    [`tunnel foo ${HASH} host proto=udp port=`, "-ERR invalid option port="],
    [`tunnel foo ${HASH} host proto=udp proto=udp`, "-ERR duplicate option proto"],
    [`tunnel foo ${HASH} host proto=udp PORT=1 port=2`, "-ERR duplicate option port"],
    [`tunnel foo ${HASH} host port=4028`, "-ERR option port needs proto=udp"],
    [`tunnel foo ${HASH} host proto=41 port=4028`, "-ERR option port needs proto=udp"],
  ];
  for (const [line, reply] of cases) {
    it(`${JSON.stringify(line)} → ${reply}`, () => {
      assert.deepEqual(parseCommand(line), error(reply));
    });
  }

  it("echoes client text without control characters, at most 64 characters", () => {
    assert.deepEqual(parseCommand(`tunnel foo ${HASH} h\u0007o\u001bst`), error("-ERR unsupported tunnel type host"));
    assert.deepEqual(
      parseCommand(`tunnel foo ${HASH} host ${"x".repeat(1000)}`),
      error(`-ERR unsupported option ${"x".repeat(64)}`),
    );
  });
});

describe("parseCommand: arbitrary input", () => {
  const token = fc.oneof(
    fc.constantFrom("tunnel", "TUNNEL", "ping", "help", "quit", "foo", HASH, "host", "network", "tunnelroute", "tunnelonly"),
    fc.constantFrom("proto=udp", "proto=41", "proto=tcp", "port=4028", "port=0", "PORT=70000", "=", "port=udp"),
    fc.string({ unit: "binary", maxLength: 20 }),
    fc.string({ unit: "binary-ascii", minLength: 500, maxLength: 5000 }),
  );
  const separator = fc.constantFrom(" ", "\t", "  ", " \t ");
  const line = fc.oneof(
    fc.string({ unit: "binary", maxLength: 300 }),
    fc.tuple(fc.array(token, { maxLength: 8 }), separator).map(([tokens, sep]) => tokens.join(sep)),
  );

  it("never throws and returns a well-formed command", () => {
    fc.assert(
      fc.property(line, (text) => {
        const command = parseCommand(text);
        switch (command.kind) {
          case "tunnel":
            assert.ok(command.user.length > 0 && command.response.length > 0);
            assert.ok(["tunnelonly", "host", "network"].includes(command.type));
            if (command.udp !== null && command.udp.clientPort !== null) {
              assert.ok(Number.isInteger(command.udp.clientPort));
              assert.ok(command.udp.clientPort >= 1 && command.udp.clientPort <= 65535);
            }
            break;
          case "error":
            assert.match(command.reply, /^-ERR [^\p{Cc}\u2028\u2029]*$/u);
            assert.doesNotMatch(command.reply, /[\r\n]/);
            break;
          case "ping":
          case "help":
          case "quit":
          case "empty":
            assert.deepEqual(Object.keys(command), ["kind"]);
            break;
          default:
            assert.fail(`unexpected command ${JSON.stringify(command)}`);
        }
      }),
      { numRuns: 500 },
    );
  });
});
