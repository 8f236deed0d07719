import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseIpv6 } from "../net/ipv6.ts";
import { parsePrefix6 } from "../net/prefix.ts";
import { outerDestination, refusedDelegation, refusedLinkAddresses, refusedOuterAddress, uplinks, type HostView } from "./host-checks.ts";
import type { TunnelReply } from "./reply.ts";

// A client on 192.0.2.10 with an IPv6 uplink 2001:db8:1::/64 (gateway 2001:db8:1::1) and a static route.
const HOST: HostView = {
  ipv4: [
    { ifname: "lo", address: "127.0.0.1" },
    { ifname: "eth0", address: "192.0.2.10" },
  ],
  ipv6Addresses: [
    { ifname: "lo", address: parseIpv6("::1") },
    { ifname: "eth0", address: parseIpv6("2001:db8:1::10") },
    { ifname: "eth0", address: parseIpv6("fe80::10") },
    { ifname: "eth2", address: parseIpv6("2001:db8:900:1::1") },
  ],
  ipv6Routes: [
    { ifname: "eth0", prefix: parsePrefix6("2001:db8:1::/64"), gateway: null },
    { ifname: "eth0", prefix: parsePrefix6("fe80::/64"), gateway: null },
    { ifname: "eth1", prefix: parsePrefix6("2001:db8:77::/56"), gateway: parseIpv6("fe80::77") },
    { ifname: "eth2", prefix: parsePrefix6("2001:db8:900:1::/64"), gateway: null },
    { ifname: "eth0", prefix: parsePrefix6("::/0"), gateway: parseIpv6("2001:db8:1::1") },
  ],
};

const IPV4 = HOST.ipv4.map((a) => a.address);
const tunnelonly = (serverIPv4: string): TunnelReply => ({ type: "tunnelonly", clientIPv4: "192.0.2.10", serverIPv4, serverUdpPort: null, tcp: null });
const host = (clientIPv6: string, serverIPv6: string) => ({ ...tunnelonly("198.51.100.1"), type: "host" as const, clientIPv6, serverIPv6 });
const prefix = (text: string) => parsePrefix6(text);

describe("where the tunnel's packets go", () => {
  test("by default where the control connection reached, whatever the reply names", () => {
    for (const named of ["198.51.100.1", "10.99.0.3", "224.0.0.1", "127.0.0.1", "192.0.2.10"]) {
      const chosen = outerDestination(tunnelonly(named), "198.51.100.1", { kind: "reached" }, IPV4);
      assert.ok(chosen.ok, named);
      assert.equal(chosen.address, "198.51.100.1", named);
      assert.equal(chosen.note === null, named === "198.51.100.1", `a differing address is said: ${named}`);
    }
    assert.equal(
      (outerDestination(tunnelonly("10.99.0.3"), "198.51.100.1", { kind: "reached" }, IPV4) as { note: string }).note,
      "the server names 10.99.0.3 as its tunnel address; packets go to 198.51.100.1, where the control connection reached it (--tunnel-server reply follows the server)",
    );
    assert.deepEqual(outerDestination(tunnelonly("198.51.100.1"), "198.51.100.1", { kind: "reply" }, IPV4), { ok: true, address: "198.51.100.1", note: null }, "the reply agrees");
  });

  test("--tunnel-server reply follows the reply, except to special addresses and this host's own", () => {
    const follow = (named: string) => outerDestination(tunnelonly(named), "198.51.100.1", { kind: "reply" }, IPV4);
    assert.deepEqual(follow("203.0.113.9"), { ok: true, address: "203.0.113.9", note: null });
    const refused: [string, RegExp][] = [
      ["224.0.0.1", /multicast/],
      ["239.255.255.250", /multicast/],
      ["255.255.255.255", /broadcast/],
      ["240.0.0.1", /reserved/],
      ["127.0.0.1", /loopback/],
      ["127.8.9.10", /loopback/],
      ["0.0.0.0", /unspecified/],
      ["192.0.2.10", /an address of this host.*routing loop/],
    ];
    for (const [named, why] of refused) {
      const chosen = follow(named);
      assert.equal(chosen.ok, false, named);
      assert.match((chosen as { error: string }).error, why, named);
    }
  });

  test("an address the user gives is used as given", () => {
    assert.deepEqual(outerDestination(tunnelonly("10.99.0.3"), "198.51.100.1", { kind: "address", address: "203.0.113.5" }, IPV4), { ok: true, address: "203.0.113.5", note: null });
  });

  test("special IPv4 addresses are named", () => {
    assert.equal(refusedOuterAddress("8.8.8.8"), null);
    assert.equal(refusedOuterAddress("223.255.255.255"), null);
    assert.match(refusedOuterAddress("0.1.2.3")!, /unspecified/);
  });
});

describe("a network tunnel's prefix", () => {
  test("global unicast, /64 or shorter, overlapping nothing of the host's, is taken", () => {
    for (const p of ["2001:db8:100::/48", "2001:db8:200::/56", "2001:db8:300::/64", "fd00:7700::/48", "2001:db8:77:100::/56"]) {
      assert.equal(refusedDelegation(prefix(p), HOST, "192.0.2.10"), null, p);
    }
  });

  test("a LAN already numbered or routed from within the prefix is the user's own use of it, not a capture", () => {
    // eth2 carries 2001:db8:900:1::1/64 (numbered by hand from the delegation); eth1 routes a /56 of it to a downstream router.
    assert.equal(refusedDelegation(prefix("2001:db8:900::/48"), HOST, "192.0.2.10"), null);
    assert.equal(refusedDelegation(prefix("2001:db8:900:1::/64"), HOST, "192.0.2.10"), null);
    assert.equal(refusedDelegation(prefix("2001:db8:77::/48"), HOST, "192.0.2.10"), null);
    // The same on the interface the control connection leaves by is the uplink: refused.
    const viaEth2 = { ...HOST, ipv4: [...HOST.ipv4, { ifname: "eth2", address: "198.51.100.20" }] };
    assert.match(refusedDelegation(prefix("2001:db8:900::/48"), viaEth2, "198.51.100.20") ?? "(taken)", /covers 2001:db8:900:1::1, an address of this host on eth2/);
  });

  test("special blocks, long prefixes and what overlaps the host's addresses or routes are refused, saying why", () => {
    const cases: [string, RegExp][] = [
      ["::/0", /overlaps ::\/96/],
      ["fe80::/10", /link-local/],
      ["fe80::/64", /link-local/],
      ["::ffff:0:0/96", /IPv4-mapped/],
      ["ff02::/16", /multicast/],
      ["fec0::/48", /site-local/],
      ["8000::/1", /link-local/],
      ["2001:db8:100::/65", /longer than a \/64/],
      ["2001:db8:100::1/128", /longer than a \/64/],
      ["2001:db8:1::/48", /covers 2001:db8:1::10, an address of this host on eth0/],
      ["2001:db8:1::/64", /covers 2001:db8:1::10/],
      ["2001:db8:77:1::/64", /overlaps 2001:db8:77::\/56, which this host routes on eth1/],
      ["2001:db8::/32", /covers 2001:db8:1::10/],
    ];
    for (const [p, why] of cases) assert.match(refusedDelegation(prefix(p), HOST, "192.0.2.10") ?? "(taken)", why, p);
  });

  test("a prefix covering the host's gateway is refused even where no route shows the gateway's network", () => {
    const bare: HostView = { ipv4: HOST.ipv4, ipv6Addresses: [], ipv6Routes: [{ ifname: "eth0", prefix: prefix("::/0"), gateway: parseIpv6("2001:db8:cc::1") }] };
    assert.match(refusedDelegation(prefix("2001:db8:cc::/48"), bare, "192.0.2.10") ?? "(taken)", /covers 2001:db8:cc::1, this host's gateway on eth0/);
  });

  test("uplinks: interfaces with a default route, and the one holding the control connection's address", () => {
    assert.deepEqual([...uplinks(HOST, "192.0.2.10")].sort(), ["eth0"]);
    const lanWithIpv4 = { ...HOST, ipv4: [...HOST.ipv4, { ifname: "eth2", address: "192.168.1.1" }] };
    assert.deepEqual([...uplinks(lanWithIpv4, "192.0.2.10")].sort(), ["eth0"], "a LAN's IPv4 address does not make it an uplink");
    const noV6Default = { ...HOST, ipv6Routes: HOST.ipv6Routes.filter((r) => r.prefix.length > 0) };
    assert.deepEqual([...uplinks(noV6Default, "192.0.2.10")], ["eth0"], "by the control connection's address alone");
    assert.deepEqual([...uplinks(noV6Default, "203.0.113.1")], [], "nothing holds that address");
    const twoDefaults = { ...HOST, ipv6Routes: [...HOST.ipv6Routes, { ifname: "eth2", prefix: prefix("::/0"), gateway: null }] };
    assert.deepEqual([...uplinks(twoDefaults, "203.0.113.1")].sort(), ["eth0", "eth2"]);
    assert.equal(refusedDelegation(prefix("2001:db8:900::/48"), twoDefaults, "192.0.2.10"), "the delegated prefix 2001:db8:900::/48 covers 2001:db8:900:1::1, an address of this host on eth2");
  });

  test("the default route overlaps everything and is not counted", () => {
    assert.equal(refusedDelegation(prefix("2001:db8:900::/48"), { ...HOST, ipv6Addresses: [], ipv6Routes: [{ ifname: "eth0", prefix: prefix("::/0"), gateway: null }] }, "192.0.2.10"), null);
  });
});

describe("a host tunnel's address pair", () => {
  test("addresses of a link of their own are taken", () => {
    assert.equal(refusedLinkAddresses(host("2001:db8:ff::2", "2001:db8:ff::1"), HOST), null);
    assert.equal(refusedLinkAddresses(host("fd00:77::2", "fd00:77::1"), HOST), null);
  });

  test("the gateway, the host's own addresses, addresses it routes elsewhere and special ones are refused", () => {
    const cases: [string, string, RegExp][] = [
      ["2001:db8:ff::2", "2001:db8:1::1", /the server's tunnel address 2001:db8:1::1 is this host's gateway on eth0/],
      ["2001:db8:1::10", "2001:db8:ff::1", /our tunnel address 2001:db8:1::10 covers 2001:db8:1::10, an address of this host/],
      ["2001:db8:ff::2", "2001:db8:1::99", /2001:db8:1::99 overlaps 2001:db8:1::\/64, which this host routes on eth0/],
      ["2001:db8:ff::2", "2001:db8:77::5", /overlaps 2001:db8:77::\/56/],
      ["::1", "2001:db8:ff::1", /^our tunnel address ::1 is in ::\/96 \(the unspecified, loopback and IPv4-compatible addresses\)$/],
      ["2001:db8:ff::2", "::", /is in ::\/96/],
      ["fe80::2", "fe80::1", /link-local/],
      ["2001:db8:ff::2", "ff02::1", /multicast/],
      ["::ffff:10.0.0.1", "2001:db8:ff::1", /IPv4-mapped/],
      ["2001:db8:ff::1", "2001:db8:ff::1", /same address 2001:db8:ff::1 to both ends/],
    ];
    for (const [me, her, why] of cases) assert.match(refusedLinkAddresses(host(me, her), HOST) ?? "(taken)", why, `${me} ${her}`);
  });
});
