import assert from "node:assert/strict";
import { test } from "node:test";
import { peerNetwork } from "./peer-network.ts";

test("IPv4 peers count alone; IPv6 peers count by their /64, however they spell it", () => {
  assert.equal(peerNetwork("192.0.2.7"), "192.0.2.7");
  assert.equal(peerNetwork("::ffff:192.0.2.7"), "192.0.2.7");
  assert.equal(peerNetwork("2001:db8:1:2:a:b:c:d"), "2001:db8:1:2::/64");
  assert.equal(peerNetwork("2001:DB8:1:2::99"), "2001:db8:1:2::/64");
  assert.notEqual(peerNetwork("2001:db8:1:3::1"), peerNetwork("2001:db8:1:2::1"));
  assert.equal(peerNetwork("::1"), "::/64");
  assert.equal(peerNetwork("unknown"), "unknown");
});
