import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { test } from "node:test";
import { skipUnlessRoot } from "../../test/support/namespaces.ts";
import { FOREIGN_REPORT_MS, Relay } from "./relay.ts";

test("once started, the server's own datagrams get through; another port of the same host is foreign", { skip: skipUnlessRoot("needs root (a TUN)"), timeout: 20_000 }, async () => {
  const relay = new Relay({ kind: "udp", bindPort: 0, offload: true }, (err) => assert.fail(err));
  const server = createSocket("udp4");
  const stranger = createSocket("udp4");
  await Promise.all([server, stranger].map((s) => new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()))));
  try {
    relay.start({ name: "dtcprt%d", mtu: 1280, offload: true }, { serverIpv4: "127.0.0.1", serverUdpPort: server.address().port, keepaliveMs: null });
    const heard = new Promise<void>((resolve) => (relay.onHeard = resolve));
    // Empty datagrams, as the server's keepalives: heard, and nothing written to the TUN.
    await new Promise<void>((r) => stranger.send(Buffer.alloc(0), relay.localPort!, "127.0.0.1", () => r()));
    await new Promise<void>((r) => server.send(Buffer.alloc(0), relay.localPort!, "127.0.0.1", () => r()));
    await heard;
    const until = Date.now() + 5_000;
    while (relay.counters.foreign < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.equal(relay.counters.foreign, 1, "the stranger's, and only the stranger's");
  } finally {
    server.close();
    stranger.close();
    relay.close();
  }
});

test("before start() names the server, every packet is foreign: dropped, counted, and reported at most once per interval with their count", async () => {
  let now = 0;
  const reports: [string, string, number][] = [];
  const relay = new Relay({ kind: "udp", bindPort: 0, offload: true }, (err) => assert.fail(err), (source, expected, count) => reports.push([source, expected, count]), () => now);
  const sender = createSocket("udp4");
  await new Promise<void>((r) => sender.bind(0, "127.0.0.1", () => r()));
  const from = `127.0.0.1:${sender.address().port}`;
  const send = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise<void>((r) => sender.send(Buffer.from("x"), relay.localPort!, "127.0.0.1", () => r()));
    const until = Date.now() + 2_000;
    while (relay.counters.foreign < n && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  };
  try {
    await send(5);
    assert.equal(relay.counters.foreign, 5);
    assert.equal(reports.length, 1, "one report for a burst");
    assert.equal(reports[0]![0], from);
    assert.equal(reports[0]![2], 1);
    relay.counters.foreign = 0;
    now += FOREIGN_REPORT_MS;
    await send(3);
    assert.equal(reports.length, 2);
    assert.equal(reports[1]![2], 5, "the four held back, then the first of the new interval");
  } finally {
    sender.close();
    relay.close();
  }
});
