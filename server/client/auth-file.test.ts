import assert from "node:assert/strict";
import { test } from "node:test";
import { findCredentials, parseAuthFile } from "./auth-file.ts";

const TEXT = [
  "# dtcpc.auth",
  "",
  "broker.example:alice:s3cret",
  "   # indented comment",
  "Broker.Example:bob:pa:ss:word ",
  "192.0.2.1:carol:c\r",
  "no-colons-here",
  "server-only:",
  ":nouser:pw",
  "host::pw",
  "other:dave:",
].join("\n");

test("parses server:user:password lines; the password is the rest of the line", () => {
  const f = parseAuthFile("/etc/a", TEXT);
  assert.deepEqual(f.entries, [
    { server: "broker.example", user: "alice", password: "s3cret" },
    { server: "Broker.Example", user: "bob", password: "pa:ss:word " },
    { server: "192.0.2.1", user: "carol", password: "c" },
    { server: "other", user: "dave", password: "" },
  ]);
  assert.deepEqual(f.malformed, [7, 8, 9, 10]);
});

test("finds the password by server (any case) and user, first file and first line first", () => {
  const a = parseAuthFile("/a", TEXT);
  const b = parseAuthFile("/b", "broker.example:alice:older\nbroker.example:erin:e\n192.0.2.9:frank:f\n");
  assert.deepEqual(findCredentials([a, b], "BROKER.example", "alice"), { kind: "found", user: "alice", password: "s3cret", path: "/a" });
  assert.deepEqual(findCredentials([a, b], "broker.example", "erin"), { kind: "found", user: "erin", password: "e", path: "/b" });
  assert.deepEqual(findCredentials([a, b], "broker.example", "zed"), { kind: "missing" });
  assert.deepEqual(findCredentials([], "broker.example", "alice"), { kind: "missing" });
});

test("without -u, the user comes from the file only when one user is listed for the server", () => {
  const a = parseAuthFile("/a", TEXT);
  const b = parseAuthFile("/b", "192.0.2.9:frank:f\n192.0.2.9:frank:g\n");
  assert.deepEqual(findCredentials([a, b], "192.0.2.1", null), { kind: "found", user: "carol", password: "c", path: "/a" });
  assert.deepEqual(findCredentials([a, b], "192.0.2.9", null), { kind: "found", user: "frank", password: "f", path: "/b" });
  assert.deepEqual(findCredentials([a, b], "broker.example", null), { kind: "ambiguous", path: "/a", users: ["alice", "bob"] });
  assert.deepEqual(findCredentials([a, b], "192.0.2.200", null), { kind: "missing" });
});
