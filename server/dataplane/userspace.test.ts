import assert from "node:assert/strict";
import { test } from "node:test";
import { silentLogger } from "../log.ts";
import { UserspaceDataPlane } from "./userspace.ts";

const pools = ["2001:db8:1::/64"];

test("options are checked when constructed", () => {
  assert.throws(() => new UserspaceDataPlane({ pools, log: silentLogger, tunName: "a-name-too-long-x" }), /TUN name/);
  assert.throws(() => new UserspaceDataPlane({ pools, log: silentLogger, tunName: "dtcp 0" }), /TUN name/);
  assert.throws(() => new UserspaceDataPlane({ pools, log: silentLogger, mtu: 1500 }), /1280\.\.1480/);
  assert.throws(() => new UserspaceDataPlane({ pools, log: silentLogger, mtu: 1279 }), /1280\.\.1480/);
  assert.throws(() => new UserspaceDataPlane({ pools: ["2001:db8::1/64"], log: silentLogger }), /host bits/);
  assert.throws(() => new UserspaceDataPlane({ pools, log: silentLogger, udpListenAddress: "::" }), /not an IPv4 address/);
  assert.throws(() => new UserspaceDataPlane({ pools, log: silentLogger, statsIntervalMs: 1500 }), /statsIntervalMs/);
});

test("the description says what runs", () => {
  const plane = new UserspaceDataPlane({ pools: [...pools, "2001:db8:100::/40"], log: silentLogger, strictOuterSource: false });
  assert.equal(plane.description, "userspace: TUN dtcp0 (MTU 1280), 2 pool(s) routed to it, UDP on 0.0.0.0, outer source relaxed");
});

test("before start: open fails, close and stats know nothing, metrics are zero, stop is a no-op", async () => {
  const plane = new UserspaceDataPlane({ pools, log: silentLogger });
  await assert.rejects(
    plane.open({
      sessionId: 1,
      userName: "u",
      type: "host",
      transport: "proto41",
      clientIpv4: "192.0.2.1",
      serverIpv4: "192.0.2.2",
      localIpv4: "192.0.2.2",
      clientUdpPort: null,
      serverUdpPort: null,
      clientIpv6: "2001:db8:1::2",
      serverIpv6: "2001:db8:1::1",
      prefix: null,
      mtu: 1280,
    }),
    /not running/,
  );
  assert.equal(await plane.close(1), null);
  assert.equal(plane.stats(1), null);
  const sessions = plane.collectMetrics().find((f) => f.name === "dtcp_dataplane_sessions");
  assert.deepEqual(sessions?.samples.map((s) => s.value), [0, 0, 0], "a series per transport");
  await plane.stop();
});
