import assert from "node:assert/strict";
import { test } from "node:test";
import { tunnelReply } from "../protocol/replies.ts";
import { parseTunnelReply } from "./reply.ts";

const base = { clientIPv4: "198.51.100.7", serverIPv4: "192.0.2.1" };

test("round-trips every reply the server builds: protocol 41, udp=, and tcp= with its token", () => {
  const transports = [
    { requested: "proto41" as const, serverUdpPort: null, tcp: null },
    { requested: "udp" as const, serverUdpPort: 4028, tcp: null },
    { requested: "tcp" as const, serverUdpPort: null, tcp: { port: 443, token: "0123456789abcdef0123456789abcdef" } },
  ];
  for (const { requested, ...extension } of transports) {
    const replies = [
      { ...base, ...extension, type: "tunnelonly" as const },
      { ...base, ...extension, type: "host" as const, clientIPv6: "2001:db8::2", serverIPv6: "2001:db8::1" },
      { ...base, ...extension, type: "network" as const, prefix: "2001:db8:100::", prefixLength: 48 },
    ];
    for (const fields of replies) {
      assert.deepEqual(parseTunnelReply(tunnelReply(fields), fields.type, requested), { ok: true, reply: fields });
    }
  }
});

test("reads by position like KAME clients: other brokers' forms and later extensions parse", () => {
  const feel6 = parseTunnelReply("+OK 198.51.100.7 192.0.2.1 2001:03e0:03c3::/48", "network", "proto41");
  assert.deepEqual(feel6, { ok: true, reply: { ...base, serverUdpPort: null, tcp: null, type: "network", prefix: "2001:3e0:3c3::", prefixLength: 48 } });
  const host = parseTunnelReply("+OK 198.51.100.7 192.0.2.1 2001:DB8::0002 2001:db8::1 mtu=1400 udp=5000", "host", "udp");
  assert.deepEqual(host, { ok: true, reply: { ...base, serverUdpPort: 5000, tcp: null, type: "host", clientIPv6: "2001:db8::2", serverIPv6: "2001:db8::1" } });
});

test("refuses replies it cannot use, quoting them", () => {
  const token = "0123456789abcdef0123456789abcdef";
  const cases: [string, "tunnelonly" | "host" | "network", "proto41" | "udp" | "tcp", RegExp][] = [
    ["-ERR authentication failed.", "host", "proto41", /^not a \+OK reply: "-ERR authentication failed\."$/],
    ["+OK 198.51.100.7", "tunnelonly", "proto41", /too few fields for a tunnelonly tunnel/],
    ["+OK 198.51.100.7 192.0.2.1", "host", "proto41", /too few fields for a host tunnel/],
    ["+OK hi, happy to hear from you", "tunnelonly", "proto41", /expected the client and server IPv4 addresses/],
    ["+OK 198.51.100.7 192.0.2.1 2001:db8::2 udp=4028", "host", "udp", /"udp=4028" is not an IPv6 address/],
    ["+OK 198.51.100.7 192.0.2.1 2001:db8::1/48", "network", "proto41", /has host bits set/],
    ["+OK 198.51.100.7 192.0.2.1 2001:db8::", "network", "proto41", /is not an IPv6 prefix/],
    ["+OK 198.51.100.7 192.0.2.1", "tunnelonly", "udp", /no udp=<port> in the reply to proto=udp/],
    ["+OK 198.51.100.7 192.0.2.1 udp=4028", "tunnelonly", "proto41", /udp= in the reply to a protocol-41 request/],
    ["+OK 198.51.100.7 192.0.2.1 udp=70000", "tunnelonly", "udp", /udp= is not a port/],
    ["+OK 198.51.100.7 192.0.2.1", "tunnelonly", "tcp", /no tcp=<port> token=<token> in the reply to proto=tcp/],
    ["+OK 198.51.100.7 192.0.2.1 tcp=443", "tunnelonly", "tcp", /no tcp=<port> token=<token>/],
    [`+OK 198.51.100.7 192.0.2.1 tcp=443 token=${token}`, "tunnelonly", "udp", /no udp=<port>/],
    [`+OK 198.51.100.7 192.0.2.1 tcp=443 token=${token}`, "tunnelonly", "proto41", /tcp= in the reply to a request that was not proto=tcp/],
    ["+OK 198.51.100.7 192.0.2.1 tcp=443 token=xyz", "tunnelonly", "tcp", /token= is not a token/],
    [`+OK 198.51.100.7 192.0.2.1 tcp=0 token=${token}`, "tunnelonly", "tcp", /tcp= is not a port/],
  ];
  for (const [line, type, requested, error] of cases) {
    const r = parseTunnelReply(line, type, requested);
    assert.equal(r.ok, false, line);
    assert.match((r as { error: string }).error, error, line);
  }
});
