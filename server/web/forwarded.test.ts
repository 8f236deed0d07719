import assert from "node:assert/strict";
import type { IncomingHttpHeaders } from "node:http";
import { test } from "node:test";
import { parseTrustedProxies, settleForwardedHeaders } from "./forwarded.ts";

const claimed = (): IncomingHttpHeaders => ({
  "x-forwarded-for": "203.0.113.9, 10.0.0.1",
  "x-forwarded-proto": "https",
  "x-forwarded-host": "broker.example",
  forwarded: "for=203.0.113.9",
  host: "broker.example",
});

test("a proxy on loopback is believed, over IPv4, IPv6 and IPv4-mapped sockets", () => {
  for (const peer of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) {
    const headers = claimed();
    settleForwardedHeaders(headers, peer, false, []);
    assert.deepEqual(headers, claimed(), peer);
  }
});

test("a listed proxy is believed; the list is checked at start", () => {
  const trusted = parseTrustedProxies("192.0.2.10, 2001:DB8::5");
  assert.deepEqual(trusted, ["192.0.2.10", "2001:db8::5"]);
  for (const peer of ["192.0.2.10", "::ffff:192.0.2.10", "2001:db8::5"]) {
    const headers = claimed();
    settleForwardedHeaders(headers, peer, false, trusted);
    assert.deepEqual(headers, claimed(), peer);
  }
  assert.deepEqual(parseTrustedProxies(undefined), []);
  assert.deepEqual(parseTrustedProxies(" "), []);
  assert.throws(() => parseTrustedProxies("192.0.2.0/24"), /BROKER_TRUSTED_PROXIES: "192.0.2.0\/24" is not an IP address/);
});

test("anyone else's claims are replaced by what the connection shows", () => {
  const headers = claimed();
  settleForwardedHeaders(headers, "::ffff:198.51.100.7", false, ["192.0.2.10"]);
  assert.deepEqual(headers, { "x-forwarded-for": "198.51.100.7", "x-forwarded-proto": "http", host: "broker.example" });

  const direct: IncomingHttpHeaders = { host: "broker.example" };
  settleForwardedHeaders(direct, "2001:db8::77", true, []);
  assert.deepEqual(direct, { "x-forwarded-for": "2001:db8::77", "x-forwarded-proto": "https", host: "broker.example" });

  const unknown = claimed();
  settleForwardedHeaders(unknown, undefined, false, []);
  assert.equal(unknown["x-forwarded-for"], undefined, "a socket without an address names nobody");
});
