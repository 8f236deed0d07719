import assert from "node:assert/strict";
import { test } from "node:test";
import { planInterface } from "./netplan.ts";

const v4 = { clientIPv4: "198.51.100.7", serverIPv4: "192.0.2.1", serverUdpPort: null };
const host = { ...v4, type: "host" as const, clientIPv6: "2001:db8::2", serverIPv6: "2001:db8::1" };

test("host: our /128, a /128 route to the server, ::/0; torn down in reverse", () => {
  const plan = planInterface("dtcp0", host, { address: null, routes: null });
  assert.deepEqual(plan.setup, [
    ["-6", "addr", "add", "2001:db8::2/128", "dev", "dtcp0", "nodad"],
    ["-6", "route", "add", "2001:db8::1/128", "dev", "dtcp0", "metric", "50"],
    ["-6", "route", "add", "::/0", "dev", "dtcp0", "metric", "50"],
  ]);
  assert.deepEqual(plan.teardown, [
    ["-6", "route", "del", "::/0", "dev", "dtcp0", "metric", "50"],
    ["-6", "route", "del", "2001:db8::1/128", "dev", "dtcp0", "metric", "50"],
    ["-6", "addr", "del", "2001:db8::2/128", "dev", "dtcp0"],
  ]);
});

test("-R replaces ::/0 and never repeats the host route", () => {
  const plan = planInterface("t", host, { address: null, routes: ["2001:db8:5::/48", "2001:db8::1/128"] });
  assert.deepEqual(
    plan.setup.map((argv) => argv.slice(2, 4)),
    [["add", "2001:db8::2/128"], ["add", "2001:db8::1/128"], ["add", "2001:db8:5::/48"]],
  );
});

test("tunnelonly and network: -A when given, else routes only; the prefix is left to the script", () => {
  const network = { ...v4, type: "network" as const, prefix: "2001:db8:100::", prefixLength: 48 };
  assert.deepEqual(planInterface("t", network, { address: null, routes: null }).setup, [["-6", "route", "add", "::/0", "dev", "t", "metric", "50"]]);
  assert.deepEqual(planInterface("t", { ...v4, type: "tunnelonly" }, { address: "2001:db8::9", routes: null }).setup, [
    ["-6", "addr", "add", "2001:db8::9/128", "dev", "t", "nodad"],
    ["-6", "route", "add", "::/0", "dev", "t", "metric", "50"],
  ]);
});
