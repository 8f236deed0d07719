import assert from "node:assert/strict";
import { test } from "node:test";
import { apiListenArg, apiTarget, withApiListen } from "./api-listen.ts";

test("--api-listen is found in dtcps arguments in both spellings", () => {
  assert.equal(apiListenArg(["-U", "--api-listen", "127.0.0.1:9000"]), "127.0.0.1:9000");
  assert.equal(apiListenArg(["--api-listen=9001", "-v"]), "9001");
  assert.equal(apiListenArg(["-U", "-p", "20200"]), null);
});

test("the launcher adds --api-listen only when the arguments lack it", () => {
  assert.deepEqual(withApiListen(["--no-dataplane"], "127.0.0.1:20201"), { args: ["--no-dataplane", "--api-listen", "127.0.0.1:20201"], listen: "127.0.0.1:20201" });
  assert.deepEqual(withApiListen(["--api-listen", "127.0.0.1:9000"], "127.0.0.1:20201"), { args: ["--api-listen", "127.0.0.1:9000"], listen: "127.0.0.1:9000" });
});

test("the web app's target: loopback for a bare port or a wildcard", () => {
  assert.deepEqual(apiTarget("127.0.0.1:20201"), { host: "127.0.0.1", port: 20201, path: "/live" });
  assert.deepEqual(apiTarget("20202"), { host: "127.0.0.1", port: 20202, path: "/live" });
  assert.deepEqual(apiTarget("0.0.0.0:20203"), { host: "127.0.0.1", port: 20203, path: "/live" });
  for (const bad of ["", "host:1", "127.0.0.1:0", "127.0.0.1:70000", "[::1]:80"]) assert.throws(() => apiTarget(bad), /BROKER_API_LISTEN/);
});
