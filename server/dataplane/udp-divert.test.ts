import assert from "node:assert/strict";
import { test } from "node:test";
import { silentLogger } from "../log.ts";
import { UdpDivert } from "./udp-divert.ts";

function recorder(failOn: (script: string) => boolean = () => false) {
  const scripts: string[] = [];
  const warnings: string[] = [];
  const run = async (script: string): Promise<void> => {
    scripts.push(script);
    if (failOn(script)) throw new Error("nft: Error: Could not process rule: No such file or directory");
  };
  const log = { ...silentLogger, warn: (m: string) => warnings.push(m) };
  return { scripts, warnings, run, log };
}

test("start writes the table afresh: a set and a tproxy rule per worker, local destinations only", async () => {
  const r = recorder();
  const divert = new UdpDivert({ tunName: "dtcp-0.a", workerPorts: [41000, 41001], listenAddress: "0.0.0.0", log: r.log, run: r.run });
  await divert.start();
  assert.equal(divert.table, "dtcp_dtcp_0_a");
  const script = r.scripts[0]!;
  // Replaces a table left behind by a killed daemon, in the same transaction.
  assert.match(script, /^table ip dtcp_dtcp_0_a \{\}\ndelete table ip dtcp_dtcp_0_a\ntable ip dtcp_dtcp_0_a \{\n/);
  assert.match(script, /set w0 \{\n {4}type inet_service\n {2}\}/);
  assert.match(script, /meta l4proto udp fib daddr type local udp dport @w0 counter tproxy to 127\.0\.0\.1:41000\n/);
  assert.match(script, /meta l4proto udp fib daddr type local udp dport @w1 counter tproxy to 127\.0\.0\.1:41001\n/);
  const bound = new UdpDivert({ tunName: "t", workerPorts: [41000], listenAddress: "192.0.2.1", log: r.log, run: r.run });
  await bound.start();
  assert.match(r.scripts[1]!, /fib daddr type local ip daddr 192\.0\.2\.1 udp dport @w0 /);
});

test("ports changed close together go in one nft run, in order; stop removes the table", async () => {
  const r = recorder();
  const divert = new UdpDivert({ tunName: "t", workerPorts: [1, 2], listenAddress: "0.0.0.0", log: r.log, run: r.run });
  await divert.start();
  divert.add(4028, 0);
  divert.add(4029, 1);
  divert.remove(4028);
  divert.remove(5000); // never added: nothing to do
  await divert.settled();
  assert.deepEqual(r.scripts.slice(1), ["add element ip dtcp_t w0 { 4028 }\nadd element ip dtcp_t w1 { 4029 }\ndelete element ip dtcp_t w0 { 4028 }\n"]);
  await divert.stop();
  assert.equal(r.scripts.at(-1), "delete table ip dtcp_t\n");
  divert.add(4030, 0);
  await divert.settled();
  assert.equal(r.scripts.at(-1), "delete table ip dtcp_t\n", "nothing after stop");
});

test("a failed run is followed by the whole table with every port as it should be, and a warning", async () => {
  const r = recorder((s) => s.startsWith("add element ip dtcp_t w1 { 4031 }"));
  const divert = new UdpDivert({ tunName: "t", workerPorts: [1, 2], listenAddress: "0.0.0.0", log: r.log, run: r.run });
  await divert.start();
  divert.add(4028, 0);
  divert.add(4030, 1);
  await divert.settled();
  divert.add(4031, 1);
  await divert.settled();
  assert.match(r.warnings[0]!, /^nftables: nft: Error: Could not process rule: No such file or directory; writing table dtcp_t afresh$/);
  const rebuilt = r.scripts.at(-1)!;
  assert.match(rebuilt, /^table ip dtcp_t \{\}\ndelete table ip dtcp_t\n/);
  assert.match(rebuilt, /set w0 \{\n {4}type inet_service\n {4}elements = \{ 4028 \}\n/);
  assert.match(rebuilt, /set w1 \{\n {4}type inet_service\n {4}elements = \{ 4030, 4031 \}\n/);
});
