import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  ALREADY_ESTABLISHED,
  AUTH_FAILED,
  BYE,
  HELP,
  INVALID_COMMAND,
  LINE_TOO_LONG,
  PONG,
  PORT_NEEDS_UDP,
  SERVER_SHUTTING_DOWN,
  SESSION_KICKED,
  SESSION_REPLACED,
  SOLD_OUT,
  TIMED_OUT,
  duplicateOption,
  greeting,
  invalidOption,
  tunnelReply,
  unsupportedOption,
  unsupportedTunnelType,
  wire,
} from "./replies.ts";

describe("reply texts", () => {
  it("are exactly what DTCP clients expect", () => {
    assert.equal(greeting("0B1517C87D516A5FA65BED722D51A04F"), "+OK 0B1517C87D516A5FA65BED722D51A04F KAME tunnel server");
    assert.equal(PONG, "+OK hi, happy to hear from you");
    assert.equal(HELP, "+OK valid commands are: TUNNEL PING QUIT");
    assert.equal(BYE, "+OK see you soon.");
    assert.equal(AUTH_FAILED, "-ERR authentication failed.");
    assert.equal(SOLD_OUT, "-ERR tunnel interface sold out");
    assert.equal(LINE_TOO_LONG, "-ERR line too long");
    assert.equal(TIMED_OUT, "-ERR connection timed out, disconnecting");
    assert.equal(SESSION_REPLACED, "-ERR session replaced");
    assert.equal(SESSION_KICKED, "-ERR session ended by an administrator");
    assert.equal(SERVER_SHUTTING_DOWN, "-ERR server shutting down");
    assert.equal(ALREADY_ESTABLISHED, "-ERR already established");
    assert.equal(INVALID_COMMAND, "-ERR invalid command");
    assert.equal(PORT_NEEDS_UDP, "-ERR option port needs proto=udp");
    assert.equal(unsupportedTunnelType("bridge"), "-ERR unsupported tunnel type bridge");
    assert.equal(unsupportedOption("mtu=1280"), "-ERR unsupported option mtu=1280");
    assert.equal(invalidOption("port=0"), "-ERR invalid option port=0");
    assert.equal(duplicateOption("proto"), "-ERR duplicate option proto");
  });

  it("wire appends CRLF", () => {
    assert.equal(wire(PONG), "+OK hi, happy to hear from you\r\n");
  });
});

describe("echoed client text", () => {
  it("loses control characters and is capped at 64 characters", () => {
    assert.equal(unsupportedTunnelType("ho\u0000st\r\n\u001b[31m\u007f\u0085"), "-ERR unsupported tunnel type host[31m");
    assert.equal(unsupportedOption("a".repeat(100)), `-ERR unsupported option ${"a".repeat(64)}`);
    assert.equal(invalidOption("port=\u2028\u2029x"), "-ERR invalid option port=x");
  });

  it("keeps printable non-ASCII text and never splits a surrogate pair", () => {
    assert.equal(unsupportedTunnelType("h\u00f6st"), "-ERR unsupported tunnel type h\u00f6st");
    const echoed = unsupportedOption("😀".repeat(70)).slice("-ERR unsupported option ".length);
    assert.equal(echoed, "😀".repeat(64));
  });

  it("always leaves a single printable line", () => {
    const builders = [unsupportedTunnelType, unsupportedOption, invalidOption, duplicateOption];
    fc.assert(
      fc.property(fc.constantFrom(...builders), fc.string({ unit: "binary", maxLength: 200 }), (build, text) => {
        const reply = build(text);
        assert.doesNotMatch(reply, /[\p{Cc}\p{Cs}\u2028\u2029]/u);
        assert.ok(Array.from(reply).length <= "-ERR unsupported tunnel type ".length + 64);
      }),
    );
  });
});

describe("tunnelReply", () => {
  const base = { clientIPv4: "192.0.2.10", serverIPv4: "198.51.100.1" };

  it("gives tunnelonly the two IPv4 endpoints", () => {
    assert.equal(tunnelReply({ ...base, type: "tunnelonly", serverUdpPort: null }), "+OK 192.0.2.10 198.51.100.1");
  });

  it("adds the link's IPv6 pair for host", () => {
    assert.equal(
      tunnelReply({ ...base, type: "host", clientIPv6: "2001:db8::2", serverIPv6: "2001:db8::1", serverUdpPort: null }),
      "+OK 192.0.2.10 198.51.100.1 2001:db8::2 2001:db8::1",
    );
  });

  it("adds the delegated prefix for network", () => {
    assert.equal(
      tunnelReply({ ...base, type: "network", prefix: "2001:db8:100::", prefixLength: 48, serverUdpPort: null }),
      "+OK 192.0.2.10 198.51.100.1 2001:db8:100::/48",
    );
  });

  it("appends the server's UDP port after the positional fields", () => {
    assert.equal(tunnelReply({ ...base, type: "tunnelonly", serverUdpPort: 4028 }), "+OK 192.0.2.10 198.51.100.1 udp=4028");
    assert.equal(
      tunnelReply({ ...base, type: "host", clientIPv6: "2001:db8::2", serverIPv6: "2001:db8::1", serverUdpPort: 4029 }),
      "+OK 192.0.2.10 198.51.100.1 2001:db8::2 2001:db8::1 udp=4029",
    );
    assert.equal(
      tunnelReply({ ...base, type: "network", prefix: "2001:db8:100::", prefixLength: 56, serverUdpPort: 4030 }),
      "+OK 192.0.2.10 198.51.100.1 2001:db8:100::/56 udp=4030",
    );
  });

  it("appends the TCP port and the attach token after the positional fields", () => {
    const token = "0123456789abcdef0123456789abcdef";
    assert.equal(
      tunnelReply({ ...base, type: "host", clientIPv6: "2001:db8::2", serverIPv6: "2001:db8::1", serverUdpPort: null, tcp: { port: 443, token } }),
      `+OK 192.0.2.10 198.51.100.1 2001:db8::2 2001:db8::1 tcp=443 token=${token}`,
    );
  });
});
