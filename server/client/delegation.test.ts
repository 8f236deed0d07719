import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePrefix6 } from "../net/prefix.ts";
import { GOODBYE_LIFETIMES, numberLans, parseDelegationSpecs, radvdConfig, routerAdvertisement } from "./delegation.ts";

const delegated = parsePrefix6("2001:db8:100::/48");

test("-P interface/SLA-id numbers the interface from the delegation: a /64, the router ::1 on it", () => {
  assert.deepEqual(numberLans(delegated, parseDelegationSpecs("lan0/1")), [
    { ifname: "lan0", prefix: "2001:db8:100:1::/64", address: "2001:db8:100:1::1", prefixLength: 64 },
  ]);
});

test("host-id and prefixlen as dtcpc(8) allows, several interfaces, hex SLA-ids", () => {
  assert.deepEqual(numberLans(delegated, parseDelegationSpecs("lan0/0x10/::a:b:c:d, wifi0/2/5/56")), [
    { ifname: "lan0", prefix: "2001:db8:100:10::/64", address: "2001:db8:100:10:a:b:c:d", prefixLength: 64 },
    { ifname: "wifi0", prefix: "2001:db8:100:200::/56", address: "2001:db8:100:200::5", prefixLength: 56 },
  ]);
});

test("what does not fit the delegation, or is not one, is refused with a reason", () => {
  const cases: [string, RegExp][] = [
    ["lan0", /-P wants interface\/SLA-id/],
    ["lan0/1/2/3/4", /-P wants interface\/SLA-id/],
    ["lan0/x", /the SLA-id must be a number/],
    ["lan0/1/::zz", /host-id "::zz"/],
    ["lan0/1/1/129", /prefixlen must be 1..127/],
    ["lan0/65536", /SLA-id 65536 does not fit in the 16 bits between \/48 and \/64/],
    ["lan0/1/1/40", /a \/40 does not fit in the delegated 2001:db8:100::\/48/],
    ["lan0/1/0", /host-id must be 1/],
    ["lan0/1,lan0/2", /names lan0 twice/],
  ];
  for (const [text, error] of cases) assert.throws(() => numberLans(delegated, parseDelegationSpecs(text)), error, text);
});

test("radvd announces each LAN prefix for SLAAC on its interface", () => {
  const config = radvdConfig(numberLans(delegated, parseDelegationSpecs("lan0/1")));
  assert.match(config, /^interface lan0 \{\n  AdvSendAdvert on;/);
  assert.match(config, /prefix 2001:db8:100:1::\/64 \{\n    AdvOnLink on;\n    AdvAutonomous on;/);
  // radvd's defaults (router 1800 s, valid 1 day) would outlive a dtcpc that died by hours.
  assert.match(config, /AdvDefaultLifetime 90;/);
  assert.match(config, /AdvValidLifetime 900;\n    AdvPreferredLifetime 300;/);
});

test("a router advertisement carries the prefix for SLAAC, this router as default and the MTU", () => {
  const [lan] = numberLans(delegated, parseDelegationSpecs("lan0/1"));
  const ra = Buffer.from(routerAdvertisement(lan!, 1280));
  assert.deepEqual([ra[0], ra[1], ra.readUInt16BE(6)], [134, 0, 90], "type 134, code 0, a short router lifetime");
  assert.deepEqual([ra.readUInt32BE(28), ra.readUInt32BE(32)], [900, 300], "short valid and preferred lifetimes");
  assert.deepEqual([ra[16], ra[17], ra.readUInt32BE(20)], [5, 1, 1280], "MTU option");
  assert.deepEqual([ra[24], ra[25], ra[26], ra[27]], [3, 4, 64, 0xc0], "prefix information: /64, on-link, autonomous");
  assert.equal(ra.subarray(40, 56).toString("hex"), "20010db8010000010000000000000000");
  const goodbye = Buffer.from(routerAdvertisement(lan!, 1280, GOODBYE_LIFETIMES));
  assert.deepEqual([goodbye.readUInt16BE(6), goodbye.readUInt32BE(28), goodbye.readUInt32BE(32)], [0, 0, 0], "the goodbye: no longer a router, the prefix withdrawn");
  assert.equal(goodbye.subarray(40, 56).toString("hex"), "20010db8010000010000000000000000", "the same prefix");
});
