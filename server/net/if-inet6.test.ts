import assert from "node:assert/strict";
import { test } from "node:test";
import { devicesWithLearntAddresses } from "./if-inet6.ts";

test("only devices with a global address that has a lifetime count as configured by router advertisements", () => {
  const text = [
    "fe8000000000000000fc00fffe000001 04 40 20 80     eth0", // link-local
    "00000000000000000000000000000001 01 80 10 80       lo",
    "fd000000000000000000000000000002 04 40 00 82     eth0", // static (permanent)
    "20010db800000001021122fffe334455 05 40 00 00    wlan0", // SLAAC
    "20010db8000000020000000000000009 06 80 00 00   enp3s0", // leased
    "20010db8000000030000000000000001 07 40 00 80    dummy", // static
    "garbage",
    "",
  ].join("\n");
  assert.deepEqual([...devicesWithLearntAddresses(text)].sort(), ["enp3s0", "wlan0"]);
});
