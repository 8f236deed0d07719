import assert from "node:assert/strict";
import { test } from "node:test";
import { authFileLine, clientCommands } from "./commands.ts";

test("the auth file line is server:user:password and a newline", () => {
  assert.equal(authFileLine("broker.example", "alice", "pw:x"), "broker.example:alice:pw:x\n");
});

test("commands for every allowed type and transport; KAME clients get protocol 41 only", () => {
  const [kame, dtcpclient, linux] = clientCommands({ server: "broker.example", port: 20200, user: "alice", types: ["network"], transports: ["proto41", "udp"] });
  assert.deepEqual(kame?.lines.map((l) => l.command), ["dtcpc -t network -u alice broker.example"]);
  assert.deepEqual(dtcpclient?.lines.map((l) => l.command), ["dtcpclient -t network -u alice broker.example"]);
  assert.deepEqual(linux?.lines.map((l) => l.command), [
    "sudo dtcpc -l -t network -u alice broker.example",
    "sudo dtcpc -l -n -t network -u alice broker.example",
    "sudo dtcpc -l -U -t network -u alice broker.example",
    "sudo dtcpc -l -U -n -t network -u alice broker.example",
    "sudo dtcpc -l -U -n -b 4028 -B 4028 -t network -u alice broker.example",
  ]);
});

test("a UDP-only user gets no KAME lines; another port is spelled out", () => {
  const [kame, , linux] = clientCommands({ server: "b", port: 2020, user: "bob", types: ["host", "tunnelonly"], transports: ["udp"] });
  assert.equal(kame?.lines.length, 0);
  assert.equal(linux?.lines.length, 6);
  assert.equal(linux?.lines[0]?.command, "sudo dtcpc -l -U -t host -u bob -p 2020 b");
});
