import assert from "node:assert/strict";
import { test } from "node:test";
import { scriptArguments } from "./script.ts";

const ctx = { server: "broker.example", localIpv4: "10.0.0.2", address: null, ifname: "dtcp0" };
const v4 = { clientIPv4: "198.51.100.7", serverIPv4: "192.0.2.1" };

test("dtcpclient's nine arguments plus the interface, '-' where a field does not apply", () => {
  assert.deepEqual(
    scriptArguments("up", { ...ctx, reply: { ...v4, serverUdpPort: 4028, type: "host", clientIPv6: "2001:db8::2", serverIPv6: "2001:db8::1" } }),
    ["up", "broker.example", "10.0.0.2", "host", "198.51.100.7", "192.0.2.1", "2001:db8::2", "2001:db8::1", "-", "dtcp0"],
  );
  assert.deepEqual(
    scriptArguments("down", { ...ctx, reply: { ...v4, serverUdpPort: null, type: "network", prefix: "2001:db8:100::", prefixLength: 56 } }),
    ["down", "broker.example", "10.0.0.2", "network", "198.51.100.7", "192.0.2.1", "-", "-", "2001:db8:100::/56", "dtcp0"],
  );
  assert.deepEqual(
    scriptArguments("up", { ...ctx, address: "2001:db8::9", reply: { ...v4, serverUdpPort: null, type: "tunnelonly" } }),
    ["up", "broker.example", "10.0.0.2", "tunnelonly", "198.51.100.7", "192.0.2.1", "2001:db8::9", "-", "-", "dtcp0"],
  );
});
