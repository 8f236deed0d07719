import assert from "node:assert/strict";
import { test } from "node:test";
import { localOnly, suggestServerName } from "./reachability.ts";

test("names and addresses clients elsewhere cannot reach are recognised, public ones are not", () => {
  for (const [host, why] of [
    ["localhost", "a name for this machine only"],
    ["LOCALHOST.", "a name for this machine only"],
    ["web.localhost", "a name for this machine only"],
    ["127.0.0.1", "a loopback address"],
    ["127.255.3.4", "a loopback address"],
    ["::1", "a loopback address"],
    ["10.1.2.3", "a private address"],
    ["172.16.0.1", "a private address"],
    ["172.31.255.255", "a private address"],
    ["192.168.1.10", "a private address"],
    ["169.254.0.5", "a link-local address"],
    ["100.64.0.1", "a carrier-grade NAT address"],
    ["0.0.0.0", "not an address clients can connect to"],
  ] as const) {
    assert.equal(localOnly(host), why, host);
  }
  for (const host of ["192.0.2.1", "172.32.0.1", "172.15.255.255", "100.128.0.1", "broker.example.net", "tunnel.example", "11.0.0.1"]) {
    assert.equal(localOnly(host), null, host);
  }
});

test("the suggested server name is one clients elsewhere can use whenever this host has one", () => {
  const v4 = (address: string, internal = false) => ({ family: "IPv4", address, internal });
  const addresses = [v4("127.0.0.1", true), { family: "IPv6", address: "2001:db8::1", internal: false }, v4("10.0.0.5"), v4("192.0.2.7")];
  assert.equal(suggestServerName("tunnel.example.net", addresses), "tunnel.example.net", "a public name the browser used wins");
  assert.equal(suggestServerName("127.0.0.1", addresses), "192.0.2.7", "a browser on loopback: this host's public address");
  assert.equal(suggestServerName("localhost", [v4("127.0.0.1", true), v4("10.0.0.5")]), "10.0.0.5", "no public address: the private one beats loopback");
  assert.equal(suggestServerName("localhost", [v4("127.0.0.1", true)]), "localhost", "nothing better: what the browser used");
});
