import assert from "node:assert/strict";
import { test } from "node:test";
import { tunnelReply } from "../protocol/replies.ts";
import { parseTunnelReply } from "./reply.ts";

const base = { clientIPv4: "198.51.100.7", serverIPv4: "192.0.2.1" };

test("round-trips every reply the server builds, with and without udp=", () => {
  for (const serverUdpPort of [null, 4028]) {
    const replies = [
      { ...base, serverUdpPort, type: "tunnelonly" as const },
      { ...base, serverUdpPort, type: "host" as const, clientIPv6: "2001:db8::2", serverIPv6: "2001:db8::1" },
      { ...base, serverUdpPort, type: "network" as const, prefix: "2001:db8:100::", prefixLength: 48 },
    ];
    for (const fields of replies) {
      assert.deepEqual(parseTunnelReply(tunnelReply(fields), fields.type, serverUdpPort !== null), { ok: true, reply: fields });
    }
  }
});

test("reads by position like KAME clients: other brokers' forms and later extensions parse", () => {
  const feel6 = parseTunnelReply("+OK 198.51.100.7 192.0.2.1 2001:03e0:03c3::/48", "network", false);
  assert.deepEqual(feel6, { ok: true, reply: { ...base, serverUdpPort: null, type: "network", prefix: "2001:3e0:3c3::", prefixLength: 48 } });
  const host = parseTunnelReply("+OK 198.51.100.7 192.0.2.1 2001:DB8::0002 2001:db8::1 mtu=1400 udp=5000", "host", true);
  assert.deepEqual(host, { ok: true, reply: { ...base, serverUdpPort: 5000, type: "host", clientIPv6: "2001:db8::2", serverIPv6: "2001:db8::1" } });
});

test("refuses replies it cannot use, quoting them", () => {
  const cases: [string, "tunnelonly" | "host" | "network", boolean, RegExp][] = [
    ["-ERR authentication failed.", "host", false, /^not a \+OK reply: "-ERR authentication failed\."$/],
    ["+OK 198.51.100.7", "tunnelonly", false, /too few fields for a tunnelonly tunnel/],
    ["+OK 198.51.100.7 192.0.2.1", "host", false, /too few fields for a host tunnel/],
    ["+OK hi, happy to hear from you", "tunnelonly", false, /expected the client and server IPv4 addresses/],
    ["+OK 198.51.100.7 192.0.2.1 2001:db8::2 udp=4028", "host", true, /"udp=4028" is not an IPv6 address/],
    ["+OK 198.51.100.7 192.0.2.1 2001:db8::1/48", "network", false, /has host bits set/],
    ["+OK 198.51.100.7 192.0.2.1 2001:db8::", "network", false, /is not an IPv6 prefix/],
    ["+OK 198.51.100.7 192.0.2.1", "tunnelonly", true, /no udp=<port> in the reply to proto=udp/],
    ["+OK 198.51.100.7 192.0.2.1 udp=4028", "tunnelonly", false, /udp= in the reply to a protocol-41 request/],
    ["+OK 198.51.100.7 192.0.2.1 udp=70000", "tunnelonly", true, /udp= is not a port/],
  ];
  for (const [line, type, udp, error] of cases) {
    const r = parseTunnelReply(line, type, udp);
    assert.equal(r.ok, false, line);
    assert.match((r as { error: string }).error, error, line);
  }
});
