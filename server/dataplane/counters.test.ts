import assert from "node:assert/strict";
import { test } from "node:test";
import {
  BINDING_ADDRESS,
  BINDING_PORT,
  bindingChange,
  BYTES_IN,
  BYTES_OUT,
  DROP_NO_BINDING,
  DROP_SPOOFED_SOURCE,
  LAST_PACKET_AT,
  newSessionCounters,
  PACKETS_IN,
  PACKETS_OUT,
  trafficCounters,
  tunnelStats,
} from "./counters.ts";
import { ipv4ToUint32 } from "./native.ts";

test("fresh counters decode to zeros, no packet yet and no binding", () => {
  assert.deepEqual(tunnelStats(newSessionCounters()), {
    bytesIn: 0n,
    bytesOut: 0n,
    packetsIn: 0n,
    packetsOut: 0n,
    drops: { spoofedSource: 0n, wrongOuterSource: 0n, malformed: 0n, noBinding: 0n, sendFailed: 0n },
    lastPacketAt: null,
    binding: null,
  });
});

test("every field decodes, beyond 32 bits and with a UDP or a protocol-41 binding", () => {
  const c = newSessionCounters();
  c[PACKETS_IN] = 3;
  c[BYTES_IN] = 2 ** 40;
  c[PACKETS_OUT] = 4;
  c[BYTES_OUT] = 2 ** 53 - 1;
  c[DROP_SPOOFED_SOURCE] = 7;
  c[DROP_NO_BINDING] = 1;
  c[LAST_PACKET_AT] = 1_700_000_000_123;
  c[BINDING_ADDRESS] = ipv4ToUint32("203.0.113.200");
  c[BINDING_PORT] = 65535;
  const s = tunnelStats(c);
  assert.deepEqual(trafficCounters(c), { packetsIn: 3n, bytesIn: 2n ** 40n, packetsOut: 4n, bytesOut: 2n ** 53n - 1n });
  assert.deepEqual(s.drops, { spoofedSource: 7n, wrongOuterSource: 0n, malformed: 0n, noBinding: 1n, sendFailed: 0n });
  assert.equal(s.lastPacketAt, 1_700_000_000_123);
  assert.deepEqual(s.binding, { address: "203.0.113.200", port: 65535 });
  c[BINDING_PORT] = -1;
  assert.deepEqual(tunnelStats(c).binding, { address: "203.0.113.200", port: null });
});

test("binding changes read as the first address, a move, or nothing", () => {
  const at = (address: string | null, port: number): Float64Array => {
    const c = newSessionCounters();
    if (address !== null) c[BINDING_ADDRESS] = ipv4ToUint32(address);
    c[BINDING_PORT] = port;
    return c;
  };
  const none = newSessionCounters();
  const open = { clientIpv4: "198.51.100.7", clientUdpPort: null };
  assert.equal(bindingChange(none, none, open), null);
  assert.equal(bindingChange(none, at("198.51.100.7", 40000), open), "client reached at 198.51.100.7:40000", "NAT traversal asked for, no NAT seen");
  assert.equal(bindingChange(at("198.51.100.7", 40000), at("198.51.100.7", 40000), open), null);
  assert.equal(bindingChange(at("198.51.100.7", 40000), at("198.51.100.7", 51234), open), "client moved from 198.51.100.7:40000 to 198.51.100.7:51234");
  assert.equal(
    bindingChange(at("198.51.100.7", 40000), at("203.0.113.9", 40000), open),
    "client moved from 198.51.100.7:40000 to 203.0.113.9:40000 (behind a NAT)",
    "packets from another address than the control connection's: a NAT",
  );
  assert.equal(
    bindingChange(none, at("198.51.100.7", 40001), { clientIpv4: "198.51.100.7", clientUdpPort: 40000 }),
    "client reached at 198.51.100.7:40001 (behind a NAT)",
    "another port than it asked for: a NAT",
  );
  assert.equal(bindingChange(none, at("192.0.2.1", -1), { clientIpv4: "192.0.2.1", clientUdpPort: null }), "client reached at 192.0.2.1", "protocol 41: no port");
});
