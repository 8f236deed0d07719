// UserspaceDataPlane end to end in three network namespaces made (and removed) by this file:
//
//   client 10.77.0.2 (+ 10.77.0.3, a stranger) ── 10.77.0.1 broker fd00:77::1 ── fd00:77::2 external
//
// The broker agent runs the data plane (pools 2001:db8:1::/64 for links, 2001:db8:100::/40 for
// delegations); the client agent speaks the tunnel transports with packets built here, pinging the
// external host, whose kernel answers.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent } from "../../test/support/netns-agent.ts";
import { ECHO_REPLY, icmpv6Echo } from "../../test/support/packets.ts";
import { Namespaces, skipUnlessRoot } from "../../test/support/namespaces.ts";
import type { TunnelSpec } from "./types.ts";
import { PACKET_THREAD_NICE } from "./worker-protocol.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const AGENTS = new URL("../../test/support/userspace-netns-agents.ts", import.meta.url);
const BROKER_V4 = "10.77.0.1";
const CLIENT_V4 = "10.77.0.2";
const STRANGER_V4 = "10.77.0.3";
const EXTERNAL = "fd00:77::2";
const WORKERS = 2;
const POOLS = ["2001:db8:1::/64", "2001:db8:100::/40"];

const skip = skipUnlessRoot("needs root (TUN, raw sockets, ip netns)");

type Received = { src: string; dst: string; icmpType: number | null; echoSeq: number | null; from: string; port: number | null };
type Stats = {
  packetsIn: number;
  packetsOut: number;
  drops: Record<string, number>;
  binding: { address: string; port: number | null } | null;
  lastPacketAt: number | null;
};

const hostSpec: TunnelSpec = {
  sessionId: 1,
  userName: "alice",
  type: "host",
  transport: "udp",
  clientIpv4: CLIENT_V4,
  serverIpv4: BROKER_V4,
  localIpv4: BROKER_V4,
  clientUdpPort: null,
  serverUdpPort: 4028,
  clientIpv6: "2001:db8:1::2",
  serverIpv6: "2001:db8:1::1",
  prefix: null,
  mtu: 1280,
};
const networkSpec: TunnelSpec = {
  ...hostSpec,
  sessionId: 2,
  userName: "bob",
  type: "network",
  transport: "proto41",
  serverUdpPort: null,
  clientIpv6: null,
  serverIpv6: null,
  prefix: "2001:db8:100:200::/56",
};

describe("UserspaceDataPlane in network namespaces", { skip }, () => {
  const spaces = new Namespaces();
  let ns: { broker: string; client: string; external: string };
  let broker: Agent;
  let client: Agent;
  const agents: Agent[] = [];
  let seq = 0;

  const inNs = (which: keyof typeof ns, ...argv: string[]): Promise<string> => spaces.exec(ns[which], ...argv);
  const stats = (sessionId: number): Promise<Stats> => broker.call<Stats>("stats", { sessionId });
  const echoesAtExternal = async (): Promise<number> => Number(/Icmp6InEchos\s+(\d+)/.exec(await inNs("external", "cat", "/proc/net/snmp6"))![1]);
  const inbox = (name: string): Promise<Received[]> => client.call<Received[]>("inbox", { name });
  /** Sends an echo request through the tunnel; returns the echo reply that came back, or null. */
  async function echo(via: { udp: string } | "raw", src: string, dst = EXTERNAL, expectReply = true): Promise<Received | null> {
    const mine = ++seq;
    const hex = icmpv6Echo(src, dst, 0x7777, mine, Buffer.from("through the tunnel")).toString("hex");
    if (via === "raw") await client.call("sendRaw", { hex, to: BROKER_V4 });
    else await client.call("sendUdp", { name: via.udp, hex, to: BROKER_V4, port: 4028 });
    const name = via === "raw" ? "raw" : via.udp;
    const deadline = Date.now() + (expectReply ? 3000 : 300);
    while (Date.now() < deadline) {
      const reply = (await inbox(name)).find((r) => r.echoSeq === mine && r.icmpType === ECHO_REPLY);
      if (reply) return reply;
      await new Promise((r) => setTimeout(r, 20));
    }
    return null;
  }

  /** Waits until the broker's reported stats of a session satisfy pred (reports come every 50 ms). */
  async function statsUntil(sessionId: number, pred: (s: Stats) => boolean, what: string): Promise<Stats> {
    const deadline = Date.now() + 3000;
    for (;;) {
      const s = await stats(sessionId);
      if (pred(s)) return s;
      if (Date.now() > deadline) assert.fail(`${what}: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  before(async () => {
    ns = { broker: await spaces.add("b"), client: await spaces.add("c"), external: await spaces.add("x") };
    await spaces.link(ns.client, "c0", ns.broker, "b0");
    await spaces.link(ns.broker, "b1", ns.external, "x0");
    await inNs("client", "ip", "addr", "add", `${CLIENT_V4}/24`, "dev", "c0");
    await inNs("client", "ip", "addr", "add", `${STRANGER_V4}/24`, "dev", "c0");
    await inNs("broker", "ip", "addr", "add", `${BROKER_V4}/24`, "dev", "b0");
    await inNs("broker", "ip", "-6", "addr", "add", "fd00:77::1/64", "dev", "b1", "nodad");
    await inNs("external", "ip", "-6", "addr", "add", `${EXTERNAL}/64`, "dev", "x0", "nodad");
    await inNs("external", "ip", "-6", "route", "add", "2001:db8::/32", "via", "fd00:77::1");
    // The broker agent starts as bin/dtcps.js does (tsx through register(), no --import), so its
    // worker has to register tsx by itself.
    // (No --input-type=module: the worker would inherit it from execArgv and refuse to start.)
    const launcher = `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(AGENTS.href)}); })`;
    broker = new Agent(["ip", "netns", "exec", ns.broker, process.execPath, "-e", launcher, "broker"], REPO);
    client = new Agent(["ip", "netns", "exec", ns.client, process.execPath, "--import", "tsx", fileURLToPath(AGENTS), "client"], REPO);
    agents.push(broker, client);
    // Two packet workers whatever the cores: the sessions below are spread over both.
    await broker.call("start", { pools: POOLS, workers: WORKERS });
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.kill()));
    await spaces.removeAll();
  });

  test("start() brings up the TUN, routes the pools to it and enables forwarding", async () => {
    const [link] = JSON.parse(await inNs("broker", "ip", "-j", "link", "show", "dev", "dtcp0")) as [{ mtu: number; txqlen: number; flags: string[] }];
    assert.deepEqual([link.mtu, link.txqlen, link.flags.includes("UP")], [1280, 4096, true]);
    const routes = await inNs("broker", "ip", "-6", "route", "show", "dev", "dtcp0");
    for (const pool of POOLS) assert.match(routes, new RegExp(`^${pool.replace("/", "\\/")} `, "m"));
    assert.equal((await inNs("broker", "cat", "/proc/sys/net/ipv6/conf/all/forwarding")).trim(), "1");
  });

  test("the packet threads alone run at a raised priority", async () => {
    const { main, threads } = await broker.call<{ main: number; threads: number[] }>("nices", {});
    assert.deepEqual(threads.filter((n) => n !== main), Array(WORKERS).fill(PACKET_THREAD_NICE), `threads' nice values: ${threads.join(" ")}`);
  });

  test("UDP, NAT traversal: nothing before the first datagram, then both ways; a rebinding is followed at once", async () => {
    await broker.call("open", { spec: hostSpec });
    assert.equal((await stats(1)).binding, null);
    // The external host pings the client before it has sent anything: no binding yet.
    await inNs("external", "ping", "-c", "1", "-W", "0.3", "2001:db8:1::2").catch(() => {});
    await statsUntil(1, (s) => s.drops.noBinding! >= 1, "noBinding counted");

    await client.call("openUdp", { name: "a", address: CLIENT_V4, port: 40000 });
    const reply = await echo({ udp: "a" }, "2001:db8:1::2");
    assert.deepEqual(reply && { src: reply.src, dst: reply.dst, from: reply.from, port: reply.port }, {
      src: EXTERNAL,
      dst: "2001:db8:1::2",
      from: BROKER_V4,
      port: 4028,
    });
    await statsUntil(1, (s) => s.binding?.port === 40000 && s.packetsIn >= 1 && s.packetsOut >= 1, "binding on port 40000");

    // The NAT maps the client to another port: the very next reply goes there.
    await client.call("openUdp", { name: "b", address: CLIENT_V4, port: 40001 });
    assert.ok(await echo({ udp: "b" }, "2001:db8:1::2"), "reply on the new port");
    assert.deepEqual(await inbox("a"), [], "nothing more on the old port");
    const s = await statsUntil(1, (x) => x.binding?.port === 40001, "binding on port 40001");
    assert.ok(s.lastPacketAt !== null && Math.abs(s.lastPacketAt - Date.now()) < 5000);

    // Another session cannot have the same server port: open() fails and leaves nothing behind.
    const clash = { ...hostSpec, sessionId: 9, userName: "mallory", clientIpv6: "2001:db8:1::9", serverIpv6: "2001:db8:1::8" };
    await assert.rejects(broker.call("open", { spec: clash }), /udp 10\.77\.0\.1:4028: bind: Address already in use/);
    assert.equal(await broker.call("stats", { sessionId: 9 }), null);

    // The server's end of the link answers too (its address is on the TUN while the session lives).
    const own = await echo({ udp: "b" }, "2001:db8:1::2", "2001:db8:1::1");
    assert.equal(own?.src, "2001:db8:1::1");
  });

  test("UDP datagrams reach their session through its worker's shared socket: nftables diverts the session's port, /metrics counts them", async () => {
    const table = await inNs("broker", "nft", "list", "table", "ip", "dtcp_dtcp0");
    assert.match(table, /elements = \{ 4028 \}/);
    assert.match(table, /fib daddr type local udp dport @w0 counter packets \d+ bytes \d+ tproxy to 127\.0\.0\.1:\d+/);
    const diverted = async (): Promise<number> => Number(/^dtcp_dataplane_udp_diverted_total (\d+)$/m.exec(await broker.call<string>("metrics"))![1]);
    const before = await diverted();
    assert.ok(await echo({ udp: "b" }, "2001:db8:1::2"));
    const deadline = Date.now() + 3000;
    while ((await diverted()) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok((await diverted()) > before, "the echo request came through a shared socket");
    assert.ok((await broker.call<string[]>("logs")).some((l) => /^UDP: the sessions' datagrams are diverted to one socket per packet worker \(nftables table dtcp_dtcp0/.test(l)));
  });

  test("protocol 41 both ways", async () => {
    await broker.call("open", { spec: networkSpec });
    await client.call("openRaw");
    const reply = await echo("raw", "2001:db8:100:2ab::1");
    assert.deepEqual(reply && { src: reply.src, dst: reply.dst, from: reply.from }, { src: EXTERNAL, dst: "2001:db8:100:2ab::1", from: BROKER_V4 });
    const s = await statsUntil(2, (x) => x.packetsIn >= 1 && x.packetsOut >= 1, "proto-41 traffic counted");
    assert.deepEqual(s.binding, { address: CLIENT_V4, port: null });
  });

  test("spoofed inner sources and a stranger's outer source are dropped, counted, and never reach the external host", async () => {
    const before = await echoesAtExternal();
    assert.equal(await echo({ udp: "b" }, "2001:db8:1::99", EXTERNAL, false), null);
    assert.equal(await echo("raw", "2001:db8:1::2", EXTERNAL, false), null, "the UDP session's address over protocol 41");
    await client.call("openUdp", { name: "stranger", address: STRANGER_V4, port: 40002 });
    assert.equal(await echo({ udp: "stranger" }, "2001:db8:1::2", EXTERNAL, false), null);
    const udp = await statsUntil(1, (s) => s.drops.spoofedSource === 1 && s.drops.wrongOuterSource === 1, "UDP drops");
    assert.equal(udp.binding?.port, 40001, "the stranger did not move the binding");
    await statsUntil(2, (s) => s.drops.spoofedSource === 1, "protocol-41 drop");
    assert.equal(await echoesAtExternal(), before);
  });

  test("a packet too big for a receive slot is dropped and counted, never forwarded cut", async () => {
    const before = await echoesAtExternal();
    // 2148 bytes of IPv6 from owned sources: more than the 2 KB slot over UDP and protocol 41.
    const big = (src: string): string => icmpv6Echo(src, EXTERNAL, 0x7777, ++seq, Buffer.alloc(2100)).toString("hex");
    assert.equal(await client.call("sendUdp", { name: "b", hex: big("2001:db8:1::2"), to: BROKER_V4, port: 4028 }), 1);
    assert.equal(await client.call("sendRaw", { hex: big("2001:db8:100:2ab::1"), to: BROKER_V4 }), 1);
    await statsUntil(1, (s) => s.drops.malformed === 1, "UDP: the session's malformed");
    const deadline = Date.now() + 3000;
    let malformed = 0;
    while (malformed < 1 && Date.now() < deadline) {
      malformed = Number(/uncharged_drops_total\{reason="malformed"\} (\d+)/.exec(await broker.call<string>("metrics"))?.[1] ?? 0);
    }
    assert.equal(malformed, 1, "protocol 41: uncharged malformed");
    assert.ok(await echo({ udp: "b" }, "2001:db8:1::2"), "a packet that fits still passes");
    assert.equal(await echoesAtExternal(), before + 1, "only that one reached the external host");
  });

  test("metrics: daemon-wide, per transport, drops by reason and per session", async () => {
    const text = await broker.call<string>("metrics");
    assert.match(text, /^dtcp_dataplane_sessions\{transport="udp"\} 1$/m);
    assert.match(text, /^dtcp_dataplane_sessions\{transport="proto41"\} 1$/m);
    assert.match(text, /^dtcp_dataplane_drops_total\{transport="udp",reason="spoofedSource"\} 1$/m);
    assert.match(text, /^dtcp_dataplane_packets_total\{transport="proto41",direction="in"\} [1-9]/m);
    assert.match(text, /^dtcp_session_packets_total\{session="1",user="alice",direction="out"\} [1-9]/m);
    assert.match(text, /^dtcp_session_last_packet_timestamp_seconds\{session="2",user="bob"\} \d/m);
    // The UDP session went to the first worker (the one with fewer sessions), the protocol-41 one to
    // the worker its client's address hashes to (the second): each carried its own packets both ways.
    for (const worker of ["0", "1"]) {
      assert.match(text, new RegExp(`^dtcp_dataplane_worker_sessions\\{worker="${worker}"\\} 1$`, "m"));
      for (const direction of ["in", "out"]) assert.match(text, new RegExp(`^dtcp_dataplane_worker_packets_total\\{worker="${worker}",direction="${direction}"\\} [1-9]`, "m"));
    }
  });

  test("after close() the client's addresses have no route: packets for them are dropped and counted", async () => {
    const final = await broker.call<{ packetsIn: number; packetsOut: number }>("close", { sessionId: 1 });
    assert.ok(final.packetsIn >= 3 && final.packetsOut >= 3, JSON.stringify(final));
    assert.equal(await broker.call("stats", { sessionId: 1 }), null);
    assert.doesNotMatch(await inNs("broker", "ip", "-6", "addr", "show", "dev", "dtcp0"), /2001:db8:1::1/);
    await assert.rejects(inNs("external", "ping", "-c", "1", "-W", "0.5", "2001:db8:1::2"));
    const deadline = Date.now() + 3000;
    let noRoute = 0;
    while (noRoute < 1 && Date.now() < deadline) {
      noRoute = Number(/uncharged_drops_total\{reason="noRoute"\} (\d+)/.exec(await broker.call<string>("metrics"))?.[1] ?? 0);
    }
    assert.ok(noRoute >= 1, "counted as no route");
    assert.deepEqual(await inbox("b"), []);
  });

  test("a session from a pool added after start gets kernel routes of its own, gone when it ends", async () => {
    const late: TunnelSpec = { ...networkSpec, sessionId: 3, userName: "carol", prefix: "2001:db8:ff00::/48" };
    await broker.call("open", { spec: late });
    assert.match(await inNs("broker", "ip", "-6", "route", "show", "dev", "dtcp0"), /^2001:db8:ff00::\/48 /m);
    await broker.call("close", { sessionId: 3 });
    assert.doesNotMatch(await inNs("broker", "ip", "-6", "route", "show", "dev", "dtcp0"), /2001:db8:ff00::/);
  });

  test("stop() removes the routes and the TUN and restores forwarding", async () => {
    await broker.call("stop");
    await assert.rejects(inNs("broker", "ip", "link", "show", "dev", "dtcp0"));
    assert.doesNotMatch(await inNs("broker", "ip", "-6", "route", "show"), /2001:db8/);
    assert.doesNotMatch(await inNs("broker", "nft", "list", "tables"), /dtcp_dtcp0/, "the nftables table is gone");
    assert.equal((await inNs("broker", "cat", "/proc/sys/net/ipv6/conf/all/forwarding")).trim(), "0");
  });

  test("forwarding left on by a plane killed with SIGKILL is restored at the next one's stop", async () => {
    const marker = join(mkdtempSync(join(tmpdir(), "dtcp-fwd-")), "ipv6-forwarding-was-off");
    const plane = () => {
      const a = new Agent(["ip", "netns", "exec", ns.broker, process.execPath, "--import", "tsx", fileURLToPath(AGENTS), "broker"], REPO);
      agents.push(a);
      return a;
    };
    const forwarding = async () => (await inNs("broker", "cat", "/proc/sys/net/ipv6/conf/all/forwarding")).trim();
    const killed = plane();
    await killed.call("start", { pools: POOLS, forwardingMarker: marker });
    assert.equal(await forwarding(), "1");
    await killed.kill();
    assert.equal(await forwarding(), "1", "nobody restored it");
    const next = plane();
    await next.call("start", { pools: POOLS, forwardingMarker: marker });
    await next.call("stop");
    assert.equal(await forwarding(), "0", "it was off before the first plane");
    assert.equal(existsSync(marker), false);
    await next.kill();
  });

  test("without CAP_NET_ADMIN or CAP_NET_RAW, start() names the missing capability", async () => {
    const start = async (drop: string): Promise<string> => {
      const a = new Agent(
        ["ip", "netns", "exec", ns.broker, "setpriv", "--bounding-set", drop, process.execPath, "--import", "tsx", fileURLToPath(AGENTS), "broker"],
        REPO,
      );
      agents.push(a);
      try {
        await a.call("start", { pools: POOLS });
        return "started";
      } catch (err) {
        return (err as Error).message;
      } finally {
        await a.kill();
      }
    };
    assert.match(await start("-net_admin"), /CAP_NET_ADMIN required/);
    assert.match(await start("-net_raw"), /raw41: socket: Operation not permitted \(CAP_NET_RAW required\)/);
    await assert.rejects(inNs("broker", "ip", "link", "show", "dev", "dtcp0"), "the TUN opened before the raw socket failed is gone");
  });

  test("where nftables cannot divert (no tproxy, no nft), each UDP session's own socket receives, and the log says why", async () => {
    const a = new Agent(["ip", "netns", "exec", ns.broker, process.execPath, "--import", "tsx", fileURLToPath(AGENTS), "broker"], REPO);
    agents.push(a);
    try {
      await a.call("start", { pools: POOLS, workers: WORKERS, nftFails: true });
      const logs = await a.call<string[]>("logs", {});
      assert.ok(
        logs.includes(
          "warning: UDP: each session's datagrams are read from its own socket: nft: Error: Could not process rule: No such file or directory (nftables with tproxy is needed; --no-tproxy says not to try)",
        ),
        logs.join("\n"),
      );
      await a.call("open", { spec: hostSpec });
      const reply = await echo({ udp: "b" }, "2001:db8:1::2");
      assert.equal(reply?.src, EXTERNAL);
      assert.match(await a.call<string>("metrics"), /^dtcp_dataplane_udp_diverted_total 0$/m);
      await a.call("stop", {});
    } finally {
      await a.kill();
    }
  });

  test("an address on a bridge whose frames br_netfilter takes through prerouting: the log says its datagrams are not diverted, and why", { skip: !existsSync("/proc/sys/net/bridge") && "no br_netfilter" }, async () => {
    await inNs("broker", "ip", "link", "add", "brx", "type", "bridge");
    await inNs("broker", "ip", "addr", "add", "10.77.9.1/24", "dev", "brx");
    await inNs("broker", "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1");
    const a = new Agent(["ip", "netns", "exec", ns.broker, process.execPath, "--import", "tsx", fileURLToPath(AGENTS), "broker"], REPO);
    agents.push(a);
    try {
      await a.call("start", { pools: POOLS, workers: 1 });
      const logs = await a.call<string[]>("logs", {});
      assert.ok(
        logs.some((l) => /^warning: UDP: datagrams reaching brx \(a bridge\) are not diverted while net\.bridge\.bridge-nf-call-iptables=1 /.test(l)),
        logs.join("\n"),
      );
      await a.call("stop", {});
    } finally {
      await a.kill();
      await inNs("broker", "ip", "link", "del", "brx");
    }
  });

  test("where bpf() is refused (no CAP_BPF), two workers asked for become one, and the log says why", async () => {
    const a = new Agent(
      ["ip", "netns", "exec", ns.broker, "setpriv", "--bounding-set", "-bpf,-sys_admin", process.execPath, "--import", "tsx", fileURLToPath(AGENTS), "broker"],
      REPO,
    );
    agents.push(a);
    try {
      await a.call("start", { pools: POOLS, workers: 2 });
      const logs = await a.call<string[]>("logs", {});
      assert.ok(
        logs.some((l) => /^warning: one packet worker instead of 2: the TUN's queues cannot be steered \(.*bpf\(BPF_MAP_CREATE\).*CAP_BPF/.test(l)),
        logs.join("\n"),
      );
      assert.ok(logs.includes("one packet worker"), logs.join("\n"));
      const { main, threads } = await a.call<{ main: number; threads: number[] }>("nices", {});
      assert.equal(threads.filter((n) => n !== main).length, 1, "one packet thread");
      await a.call("stop", {});
    } finally {
      await a.kill();
    }
  });
});
