import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { TestBroker } from "./support/broker.ts";
import { DtcpClient } from "./support/dtcp-client.ts";
import { ScriptedDataPlane, traffic } from "./support/scripted-data-plane.ts";

const plane = new ScriptedDataPlane();
let broker: TestBroker;
before(async () => {
  broker = await TestBroker.start({ dataPlane: () => plane, trafficRecordMs: 50 });
});
after(() => broker.stop());

test("a live session's counters reach its row while it runs; the final ones when it ends", async () => {
  const alice = await broker.user("alice");
  const client = await DtcpClient.connect(broker.port);
  assert.match((await client.tunnel(alice.name, alice.password, "tunnelonly")) ?? "", /^\+OK /);
  const id = broker.daemon.broker.liveSessions[0]!.id;
  const rowWhen = async (pred: (r: Awaited<ReturnType<typeof read>>) => boolean) => {
    for (const deadline = Date.now() + 2_000; ; ) {
      const r = await read();
      if (pred(r)) return r;
      if (Date.now() > deadline) assert.fail(`session row: ${JSON.stringify(r, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  const read = () => broker.db.session.findUniqueOrThrow({ where: { id } });

  plane.figures.set(id, traffic(10_000, { address: "127.0.0.1", port: null }));
  const running = await rowWhen((r) => r.bytesIn === 10_000n);
  assert.deepEqual([running.bytesOut, running.packetsIn, running.packetsOut, running.endedAt], [20_000n, 100n, 200n, null]);

  plane.figures.set(id, traffic(30_000, { address: "127.0.0.1", port: null }));
  assert.equal(await client.command("quit"), "+OK see you soon.");
  const ended = await rowWhen((r) => r.endedAt !== null);
  assert.deepEqual([ended.endReason, ended.bytesIn, ended.bytesOut], ["quit", 30_000n, 60_000n]);
});
