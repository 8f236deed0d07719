import assert from "node:assert/strict";
import { test } from "node:test";
import { parseListen, publicBaseUrl } from "./listen.ts";

test("BROKER_WEB_LISTEN forms", () => {
  assert.deepEqual(parseListen("127.0.0.1:3000"), { host: "127.0.0.1", port: 3000 });
  assert.deepEqual(parseListen("[::1]:8080"), { host: "::1", port: 8080 });
  assert.deepEqual(parseListen("broker.example:443"), { host: "broker.example", port: 443 });
  assert.deepEqual(parseListen("3001"), { host: "127.0.0.1", port: 3001 });
  for (const bad of ["", "host", "host:0", "host:70000", "::1:80", "a:b:c"]) assert.throws(() => parseListen(bad), /BROKER_WEB_LISTEN/);
});

test("links use the public host for wildcard binds", () => {
  assert.equal(publicBaseUrl({ host: "0.0.0.0", port: 3000 }, "broker.example"), "http://broker.example:3000");
  assert.equal(publicBaseUrl({ host: "::", port: 3000 }, "2001:db8::1"), "http://[2001:db8::1]:3000");
  assert.equal(publicBaseUrl({ host: "127.0.0.1", port: 3000 }, "ignored"), "http://127.0.0.1:3000");
});
