import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { IpBatch, IpBatchOutput } from "./ip-batch.ts";
import { Namespaces, skipUnlessRoot } from "../../test/support/namespaces.ts";

describe("IpBatchOutput", () => {
  const fence = (n: number): string => `Object "fence" is unknown, try "ip help".\nCommand failed -:${n}\n`;

  test("a fence completes the command before it; a failure report before the fence makes it an error", () => {
    const out = new IpBatchOutput();
    assert.deepEqual(out.feed(fence(2)), [{ line: 1, error: null }]);
    assert.deepEqual(out.feed("RTNETLINK answers: File exists\nCommand failed -:3\n" + fence(4) + fence(6)), [
      { line: 3, error: "RTNETLINK answers: File exists" },
      { line: 5, error: null },
    ]);
  });

  test("reports split anywhere across chunks", () => {
    const out = new IpBatchOutput();
    const text = 'Cannot find device "nope"\nCommand failed -:1\n' + fence(2) + fence(4);
    const done = [...text].flatMap((ch) => out.feed(ch));
    assert.deepEqual(done, [
      { line: 1, error: 'Cannot find device "nope"' },
      { line: 3, error: null },
    ]);
  });

  test("a multi-line message is kept whole", () => {
    const out = new IpBatchOutput();
    assert.deepEqual(out.feed('Error: inet6 prefix is expected rather than "x".\nmore detail\nCommand failed -:1\n' + fence(2)), [
      { line: 1, error: 'Error: inet6 prefix is expected rather than "x".\nmore detail' },
    ]);
  });
});

describe("IpBatch (in a network namespace)", { skip: skipUnlessRoot("needs root (ip netns)") }, () => {
  const spaces = new Namespaces();
  after(() => spaces.removeAll());

  test("runs commands in order, reports each failure with ip's message, and respawns after close", async () => {
    const ns = await spaces.add("ipbatch");
    // The child inherits the namespace of whoever runs it: enter it through a child process.
    const script = `
      import { IpBatch } from ${JSON.stringify(new URL("./ip-batch.ts", import.meta.url).href)};
      const ip = new IpBatch();
      const results = await Promise.allSettled([
        ip.run("route add 2001:db8:1::/48 dev lo"),
        ip.run("route add 2001:db8:1::/48 dev lo"),
        ip.run("route add 2001:db8:2::/48 dev nonexistent"),
        ip.run("route add 2001:db8:3::/48 dev lo"),
      ]);
      await ip.close();
      const again = await ip.run("route del 2001:db8:3::/48 dev lo").then(() => "ok", (e) => e.message);
      await ip.close();
      console.log(JSON.stringify({ results: results.map((r) => r.status === "fulfilled" ? "ok" : r.reason.message), again }));
    `;
    const out = JSON.parse(await spaces.exec(ns, process.execPath, "--import", "tsx", "--input-type=module", "-e", script)) as {
      results: string[];
      again: string;
    };
    assert.equal(out.results[0], "ok");
    assert.match(out.results[1]!, /^ip route add 2001:db8:1::\/48 dev lo: .*File exists/);
    assert.match(out.results[2]!, /Cannot find device "nonexistent"/);
    assert.equal(out.results[3], "ok");
    assert.equal(out.again, "ok");
    const routes = await spaces.exec(ns, "ip", "-6", "route", "show", "dev", "lo");
    assert.match(routes, /2001:db8:1::\/48/);
    assert.doesNotMatch(routes, /2001:db8:3::/);
  });

  test("rejects a command spanning lines without running it", async () => {
    await assert.rejects(new IpBatch().run("route add ::/0 dev lo\nroute flush"), /spans lines/);
  });
});
