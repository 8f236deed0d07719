// The broker end to end: the real dtcps (userspace data plane), dtcpc and dtcpctl carrying IPv6
// between clients and an external IPv6 host, in network namespaces made (and removed) by this file:
//
//   ext ── broker ─┬─ pub: alice, host over protocol 41
//                  └─ nat ─┬─ c1: bob, network over UDP ── lan (a host on bob's LAN)
//                          └─ c2: carol, host over UDP
//
//   ext fd00:e::2/64, routes 2001:db8::/32 (every pool) to the broker's fd00:e::1
//   broker 100.64.0.1 on a bridge with pub 100.64.0.3 and the NAT's outside 100.64.0.2
//   nat 10.0.0.1 on a bridge with c1 10.0.0.2 and c2 10.0.0.3
//   c1 fe80::1 on its LAN; lan <bob's prefix>::2/64, default route via fe80::1
//
// The NAT box masquerades on its outside interface: UDP to ports 40000-49999 at random (scenario 4
// moves that block to prove a rebinding changes the outer port), TCP keeping its ports. c1 is
// a router: its -s script puts the first address of the delegated /48 on its LAN interface, the
// LAN host takes the second (as SLAAC would) and routes through c1's link-local address.
// Every client runs with -l (reconnect) and NAT traversal clients with --keepalive 1.

import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Namespaces, run, skipUnlessRoot } from "./support/namespaces.ts";
import { Child, dtcpctl, eventually, nodeIn } from "./support/processes.ts";
import { tempDataDir } from "./support/broker.ts";
import { parseExposition, select, total, type Sample } from "./support/prometheus.ts";

const skip = skipUnlessRoot("needs root (ip netns, TUN, raw sockets, nftables, conntrack)");

const BROKER = "100.64.0.1";
const NAT = "100.64.0.2";
const PUB = "100.64.0.3";
const EXT = "fd00:e::2";
const METRICS_PORT = 9100;
const KEEPALIVE_S = 1;
const UDP_BLOCK = [40000, 49999] as const;
const UDP_BLOCK_AFTER = [50000, 59999] as const;
const FOREIGN = "2001:db8:dead::"; // in 2001:db8::/32, which ext routes to the broker, but in no pool
const USERS = { alice: "alice-Tunnel-pw-1", bob: "bob-Tunnel-pw-22", carol: "carol-Tunnel-pw-3" } as const;
type User = keyof typeof USERS;

type LoggedSession = { id: number; type: string; transport: string; from: string; serverUdpPort: number | null };
type Ping = { transmitted: number; received: number; output: string };

/** The NAT box's source NAT: UDP from `block` at random (a CGNAT), anything else keeping its port. */
const natRules = ([low, high]: readonly [number, number]) => `add rule ip nat post oifname "n0" meta l4proto udp masquerade to :${low}-${high} fully-random
add rule ip nat post oifname "n0" masquerade`;

describe("the broker end to end in network namespaces: dtcps, dtcpc behind a NAT and in the open, an external host", { skip, timeout: 180_000 }, () => {
  // Made in before(), so that a skipped run leaves nothing behind.
  let data: ReturnType<typeof tempDataDir> | null = null;
  let env: NodeJS.ProcessEnv = {};
  let authFile = "";
  let lanScript = "";
  const namespaces = new Namespaces();
  const ns = { ext: "", broker: "", nat: "", c1: "", lan: "", c2: "", pub: "" };
  const children: Child[] = [];
  const brokers: Child[] = [];
  const clients = {} as Record<User, Child>;
  let aliceAddress = "";
  let carolAddress = "";
  let bobPrefix = "";
  let lanAddress = "";

  const sh = (where: string, ...argv: string[]) => namespaces.exec(where, ...argv);
  const spawnIn = (where: string, args: string[]): Child => {
    const child = nodeIn(where, args, env);
    children.push(child);
    return child;
  };
  // Two packet workers whatever the cores, so that every test below crosses both.
  const startBroker = async (): Promise<Child> => {
    const b = spawnIn(ns.broker, ["bin/dtcps.js", "-U", "--listen", BROKER, "--metrics", `127.0.0.1:${METRICS_PORT}`, "--workers", "2"]);
    brokers.push(b);
    await b.waitFor(/dtcps listening on/, 30_000);
    return b;
  };
  const currentBroker = (): Child => brokers[brokers.length - 1]!;
  /** Every line the daemon logged, across restarts. */
  const brokerLog = (): string[] => brokers.flatMap((b) => b.lines);
  const dtcpc = (where: string, user: User, ...args: string[]): Child =>
    spawnIn(where, ["bin/dtcpc.js", "-d", "-l", "-u", user, "--auth-file", authFile, ...args, BROKER]);
  const startClient = (user: User): Child => {
    switch (user) {
      case "alice":
        return (clients.alice = dtcpc(ns.pub, "alice", "-t", "host"));
      case "bob":
        return (clients.bob = dtcpc(ns.c1, "bob", "-U", "-n", "--keepalive", String(KEEPALIVE_S), "-t", "network", "-s", lanScript));
      case "carol":
        return (clients.carol = dtcpc(ns.c2, "carol", "-U", "-n", "--keepalive", String(KEEPALIVE_S), "-t", "host"));
    }
  };
  const tunnelUp = (client: Child, from = 0): Promise<string> => client.waitFor(/tunnel up: /, 30_000, from);

  /** The sessions the daemon logged for `user`, oldest first ("session 7: bob network over udp from 100.64.0.2 (server udp 4029, asked for NAT traversal)"). */
  const sessionsOf = (user: User): LoggedSession[] =>
    brokerLog().flatMap((line) => {
      const m = new RegExp(`session (\\d+): ${user} (\\S+) over (\\S+) from (\\S+)(?: \\(server udp (\\d+),|$)`).exec(line);
      return m ? [{ id: Number(m[1]), type: m[2]!, transport: m[3]!, from: m[4]!, serverUdpPort: m[5] === undefined ? null : Number(m[5]) }] : [];
    });
  const currentSession = (user: User): LoggedSession => sessionsOf(user).at(-1) ?? assert.fail(`no session of ${user} logged:\n${brokerLog().join("\n")}`);
  /** Where the daemon sends a NAT-traversal session's packets, as logged from `from` on: [address, port]. */
  const bindingOf = (session: number, from = 0): [string, number] | null => {
    const line = brokerLog()
      .slice(from)
      .findLast((l) => new RegExp(`session ${session} of \\w+: client (reached at|moved from \\S+ to) `).test(l));
    const m = line === undefined ? null : /(\d+\.\d+\.\d+\.\d+):(\d+)(?: \(behind a NAT\))?$/.exec(line);
    return m ? [m[1]!, Number(m[2])] : null;
  };
  const waitForBinding = (session: number, from = 0) => eventually(`a binding of session ${session}`, async () => bindingOf(session, from) ?? undefined, 10_000);

  const scrape = async (): Promise<Sample[]> =>
    parseExposition(
      await sh(ns.broker, process.execPath, "-e", `fetch("http://127.0.0.1:${METRICS_PORT}/metrics").then((r) => r.text()).then((t) => process.stdout.write(t))`),
    );
  /** Polls /metrics until pred holds (the data plane reports its counters every second). */
  const metricsUntil = (what: string, pred: (m: Sample[]) => boolean): Promise<Sample[]> =>
    eventually(what, async () => {
      const m = await scrape();
      return pred(m) && m;
    });

  const ping = async (from: string, to: string, opts: { count?: number; interval?: number; source?: string; wait?: number } = {}): Promise<Ping> => {
    const count = opts.count ?? 1;
    const argv = ["netns", "exec", from, "ping", "-6", "-n", "-c", String(count), "-i", String(opts.interval ?? 0.2), "-W", String(opts.wait ?? 2)];
    if (opts.source !== undefined) argv.push("-I", opts.source);
    // ping exits 1 when a reply is missing: the counts tell.
    const output = await run("ip", [...argv, to], { timeout: 30_000 }).then(
      (r) => r.stdout,
      (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ""}${err.stderr ?? ""}`,
    );
    const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
    return { transmitted: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), output };
  };
  const pingsAll = async (from: string, to: string, count = 1): Promise<void> => {
    const r = await ping(from, to, { count, interval: 0.1 });
    assert.ok(r.transmitted === count && r.received === count, `${from} → ${to}: ${count} echo replies expected\n${r.output}`);
  };
  const echoRequestsAtExt = async (): Promise<number> => Number(/Icmp6InEchos\s+(\d+)/.exec(await sh(ns.ext, "cat", "/proc/net/snmp6"))![1]);

  before(async () => {
    data = tempDataDir();
    env = data.env;
    authFile = join(data.dir, "dtcpc.auth");
    lanScript = join(data.dir, "lan-up.sh");
    for (const [key, short] of [["ext", "ex"], ["broker", "br"], ["nat", "nt"], ["c1", "c1"], ["lan", "ln"], ["c2", "c2"], ["pub", "pb"]] as const) {
      ns[key] = await namespaces.add(short);
      // No duplicate address detection: addresses are usable at once.
      await sh(ns[key], "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0");
    }
    // The IPv4 "internet": a bridge in the broker's namespace, with the broker's address on it.
    await sh(ns.broker, "ip", "link", "add", "wan", "type", "bridge");
    await sh(ns.broker, "ip", "link", "set", "wan", "up");
    await sh(ns.broker, "ip", "addr", "add", `${BROKER}/24`, "dev", "wan");
    // br_netfilter would run prerouting on frames crossing the bridge, where a tproxy decision does
    // not survive: the broker's UDP sessions would not be diverted to its workers' shared sockets
    // (dtcps warns of it). Per namespace, so the host's setting is left alone.
    await sh(ns.broker, "sh", "-c", "[ ! -e /proc/sys/net/bridge ] || sysctl -qw net.bridge.bridge-nf-call-iptables=0");
    await namespaces.link(ns.broker, "wn", ns.nat, "n0");
    await namespaces.link(ns.broker, "wp", ns.pub, "p0");
    for (const port of ["wn", "wp"]) await sh(ns.broker, "ip", "link", "set", port, "master", "wan");
    await sh(ns.nat, "ip", "addr", "add", `${NAT}/24`, "dev", "n0");
    await sh(ns.pub, "ip", "addr", "add", `${PUB}/24`, "dev", "p0");
    // The external host, routing the documentation prefix (every pool) to the broker.
    await namespaces.link(ns.broker, "x0", ns.ext, "e0");
    await sh(ns.broker, "ip", "-6", "addr", "add", "fd00:e::1/64", "dev", "x0");
    await sh(ns.ext, "ip", "-6", "addr", "add", `${EXT}/64`, "dev", "e0");
    await sh(ns.ext, "ip", "-6", "route", "add", "2001:db8::/32", "via", "fd00:e::1");
    // The NAT box and the private network behind it.
    await sh(ns.nat, "ip", "link", "add", "lan", "type", "bridge");
    await sh(ns.nat, "ip", "link", "set", "lan", "up");
    await sh(ns.nat, "ip", "addr", "add", "10.0.0.1/24", "dev", "lan");
    for (const [client, port, address] of [[ns.c1, "l1", "10.0.0.2"], [ns.c2, "l2", "10.0.0.3"]] as const) {
      await namespaces.link(ns.nat, port, client, "u0");
      await sh(ns.nat, "ip", "link", "set", port, "master", "lan");
      await sh(client, "ip", "addr", "add", `${address}/24`, "dev", "u0");
      await sh(client, "ip", "route", "add", "default", "via", "10.0.0.1");
    }
    await sh(ns.nat, "sysctl", "-qw", "net.ipv4.ip_forward=1");
    await sh(
      ns.nat,
      "nft",
      `add table ip nat
      add chain ip nat post { type nat hook postrouting priority srcnat ; }
      ${natRules(UDP_BLOCK)}
      add table ip filter
      add chain ip filter inbound { type filter hook forward priority filter ; }
      add rule ip filter inbound ct state established,related accept
      add rule ip filter inbound iifname "n0" drop`,
    );
    // c1 routes for the LAN host behind it.
    await namespaces.link(ns.c1, "l0", ns.lan, "e0");
    await sh(ns.c1, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1");
    await sh(ns.c1, "ip", "-6", "addr", "add", "fe80::1/64", "dev", "l0");
    await sh(ns.lan, "ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", "e0");

    dtcpctl(env, ["pool", "add", "2001:db8:ffff::/64", "--purpose", "link"]);
    dtcpctl(env, ["pool", "add", "2001:db8:100::/40", "--purpose", "delegation", "--size", "48", "--auto"]);
    for (const [user, password] of Object.entries(USERS)) dtcpctl(env, ["user", "add", user, "--tunnel-password-stdin"], `${password}\n`);
    writeFileSync(authFile, Object.entries(USERS).map(([user, password]) => `${BROKER}:${user}:${password}\n`).join(""));
    // What a user of a network tunnel writes: the prefix's first /64 on the LAN, its ::1 ours.
    // (`-s` arguments: state server myaddr tuntype me her me6 her6 prefix ifname.)
    writeFileSync(
      lanScript,
      `#!/bin/sh
[ "$4" = network ] || exit 0
case "$1" in
  up) exec ip -6 addr replace "\${9%/*}1/64" dev l0 ;;
  down) exec ip -6 addr del "\${9%/*}1/64" dev l0 ;;
esac
`,
    );
    chmodSync(lanScript, 0o755);

    await startBroker();
    const [alice, bob, carol] = await Promise.all((["alice", "bob", "carol"] as const).map((u) => tunnelUp(startClient(u))));
    aliceAddress = (/host (\S+) <-> \S+ on dtcp0, protocol 41 to 100\.64\.0\.1$/.exec(alice!) ?? assert.fail(alice))[1]!;
    carolAddress = (/host (\S+) <-> \S+ on dtcp0, UDP to 100\.64\.0\.1 port \d+$/.exec(carol!) ?? assert.fail(carol))[1]!;
    bobPrefix = (/network prefix (\S+)\/48 on dtcp0, UDP to 100\.64\.0\.1 port \d+$/.exec(bob!) ?? assert.fail(bob))[1]!;
    lanAddress = `${bobPrefix}2`;
    await sh(ns.lan, "ip", "-6", "addr", "add", `${lanAddress}/64`, "dev", "e0");
  });

  after(async () => {
    for (const child of children) child.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    await namespaces.removeAll();
    data?.cleanup();
  });

  test("1. host over protocol 41 from a public IPv4: the client pings the external host and back", async () => {
    const session = currentSession("alice");
    assert.deepEqual([session.type, session.transport, session.from], ["host", "proto41", PUB]);
    await pingsAll(ns.pub, EXT, 3);
    await pingsAll(ns.ext, aliceAddress, 3);
    // Both ways through the tunnel, charged to alice's session: 3 requests and 3 replies each way.
    await metricsUntil("alice's session to count 6 packets each way", (m) =>
      ["in", "out"].every((direction) => total(m, "dtcp_session_packets_total", { session: String(session.id), user: "alice", direction }) >= 6),
    );
  });

  test("2. network over UDP through the NAT: the LAN host and the external host ping each other", async () => {
    const session = currentSession("bob");
    assert.deepEqual([session.type, session.transport, session.from], ["network", "udp", NAT]);
    assert.match(await sh(ns.c1, "ip", "-6", "addr", "show", "dev", "l0"), new RegExp(`inet6 ${bobPrefix}1/64 scope global`), "the -s script configured the LAN side");
    const [address, port] = await waitForBinding(session.id);
    assert.equal(address, NAT);
    assert.ok(port >= UDP_BLOCK[0] && port <= UDP_BLOCK[1], `the binding is the NAT's mapping, not c1's own port: ${port}`);
    await pingsAll(ns.lan, EXT, 3);
    await pingsAll(ns.ext, lanAddress, 3);
    await metricsUntil("bob's session to count 6 packets each way", (m) =>
      ["in", "out"].every((direction) => total(m, "dtcp_session_packets_total", { session: String(session.id), user: "bob", direction }) >= 6),
    );
  });

  test("3. two clients behind the same NAT, both working at the same time", async () => {
    const bob = currentSession("bob");
    const carol = currentSession("carol");
    assert.deepEqual([carol.type, carol.transport, carol.from], ["host", "udp", NAT]);
    assert.notEqual(bob.serverUdpPort, carol.serverUdpPort, "each session has its own server port");
    const [bobBinding, carolBinding] = await Promise.all([waitForBinding(bob.id), waitForBinding(carol.id)]);
    assert.equal(carolBinding[0], NAT);
    assert.notEqual(bobBinding[1], carolBinding[1], "two NAT mappings of one address");
    await Promise.all([
      pingsAll(ns.lan, EXT, 10),
      pingsAll(ns.c2, EXT, 10),
      pingsAll(ns.ext, lanAddress, 10),
      pingsAll(ns.ext, carolAddress, 10),
    ]);
    const m = await scrape();
    assert.equal(total(m, "dtcp_dataplane_sessions", { transport: "udp" }), 2);
    // --workers 2: the three sessions are spread over both packet workers, each carrying its own both
    // ways; the UDP sessions' datagrams came through the workers' shared sockets (nftables tproxy).
    const directions = ["in", "out"];
    await metricsUntil("both packet workers with sessions and packets both ways, UDP diverted", (x) =>
      total(x, "dtcp_dataplane_udp_diverted_total") > 0 &&
      ["0", "1"].every(
        (worker) =>
          total(x, "dtcp_dataplane_worker_sessions", { worker }) >= 1 &&
          directions.every((direction) => total(x, "dtcp_dataplane_worker_packets_total", { worker, direction }) > 0),
      ),
    );
  });

  test("5. a spoofed inner source is dropped, counted, and never reaches the external host", async () => {
    const alice = currentSession("alice");
    const bob = currentSession("bob");
    // The counter this test relies on moves with a genuine echo request.
    const genuine = await echoRequestsAtExt();
    await pingsAll(ns.pub, EXT);
    assert.equal(await echoRequestsAtExt(), genuine + 1);

    const before = await scrape();
    const echoes = await echoRequestsAtExt();
    // Protocol 41: a foreign address on the client's TUN. UDP: a LAN host with an address outside the prefix.
    await sh(ns.pub, "ip", "-6", "addr", "add", `${FOREIGN}1/128`, "dev", "dtcp0");
    await sh(ns.lan, "ip", "-6", "addr", "add", `${FOREIGN}2/128`, "dev", "e0");
    const [fromPub, fromLan] = await Promise.all([
      ping(ns.pub, EXT, { count: 3, source: `${FOREIGN}1`, wait: 1 }),
      ping(ns.lan, EXT, { count: 3, source: `${FOREIGN}2`, wait: 1 }),
    ]).finally(() =>
      Promise.all([
        sh(ns.pub, "ip", "-6", "addr", "del", `${FOREIGN}1/128`, "dev", "dtcp0"),
        sh(ns.lan, "ip", "-6", "addr", "del", `${FOREIGN}2/128`, "dev", "e0"),
      ]),
    );
    assert.deepEqual([fromPub.transmitted, fromPub.received], [3, 0], fromPub.output);
    assert.deepEqual([fromLan.transmitted, fromLan.received], [3, 0], fromLan.output);
    assert.equal(await echoRequestsAtExt(), echoes, "no spoofed echo request reached the external host");
    const spoofed = (m: Sample[], session: LoggedSession) => total(m, "dtcp_session_drops_total", { session: String(session.id), reason: "spoofedSource" });
    const dropped = (m: Sample[], transport: string) => total(m, "dtcp_dataplane_drops_total", { transport, reason: "spoofedSource" });
    const counted = await metricsUntil("3 spoofed packets counted per session and per transport", (m) =>
      spoofed(m, alice) >= spoofed(before, alice) + 3 &&
      spoofed(m, bob) >= spoofed(before, bob) + 3 &&
      dropped(m, "proto41") >= dropped(before, "proto41") + 3 &&
      dropped(m, "udp") >= dropped(before, "udp") + 3,
    );
    assert.deepEqual(
      [spoofed(counted, alice) - spoofed(before, alice), spoofed(counted, bob) - spoofed(before, bob)],
      [3, 3],
      "exactly the spoofed echo requests",
    );
    await pingsAll(ns.lan, EXT); // the sessions carry on
  });

  test("6. control connection closed: the route goes at once; a reconnecting -l client restores service", async (t) => {
    const killed = currentSession("alice");
    const started = Date.now();
    clients.alice.kill("SIGKILL"); // no `quit`: the kernel closes the connection
    await clients.alice.exited;
    // Waits for the end itself (not for the idle timeout, 300 s, which is what would end it otherwise).
    await currentBroker().waitFor(new RegExp(`session ${killed.id} of alice ended: `), 30_000);
    t.diagnostic(`session ended ${Date.now() - started} ms after dtcpc was killed`);
    assert.equal(select(await scrape(), "dtcp_session_packets_total", { session: String(killed.id) }).length, 0, "the session's series are gone");
    // The daemon-wide gauge comes with the worker's next report (every second).
    const before = await metricsUntil("no protocol-41 session", (m) => total(m, "dtcp_dataplane_sessions", { transport: "proto41" }) === 0);
    const unreachable = await ping(ns.ext, aliceAddress, { count: 5, interval: 0.1, wait: 1 });
    assert.deepEqual([unreachable.transmitted, unreachable.received], [5, 0], unreachable.output);
    // (noRoute also counts the broker kernel's own multicast on the TUN, MLD reports: a few at most.)
    const noRoute = (m: Sample[]) => total(m, "dtcp_dataplane_uncharged_drops_total", { reason: "noRoute" });
    const after = await metricsUntil("the external host's 5 packets counted as noRoute", (m) => noRoute(m) >= noRoute(before) + 5);
    assert.equal(
      total(after, "dtcp_dataplane_packets_total", { transport: "proto41", direction: "out" }),
      total(before, "dtcp_dataplane_packets_total", { transport: "proto41", direction: "out" }),
      "nothing entered a tunnel",
    );

    // A new client with -l; then its control connection is reset under it.
    const client = startClient("alice");
    await tunnelUp(client);
    const first = currentSession("alice");
    assert.notEqual(first.id, killed.id);
    await pingsAll(ns.pub, EXT);
    const mark = client.lines.length;
    await sh(ns.pub, "ss", "-tnK", "dst", BROKER, "dport", "=", "20200");
    await client.waitFor(/reconnecting in /, 5_000, mark);
    await tunnelUp(client, mark);
    await currentBroker().waitFor(new RegExp(`session ${first.id} of alice ended: `), 5_000);
    const second = currentSession("alice");
    assert.notEqual(second.id, first.id, "a new login");
    await pingsAll(ns.pub, EXT);
    await pingsAll(ns.ext, aliceAddress);
  });

  test("7. broker restarted on the same data: -l clients come back by themselves and ping6 works again", async (t) => {
    const marks = { alice: clients.alice.lines.length, bob: clients.bob.lines.length, carol: clients.carol.lines.length };
    const before = { alice: currentSession("alice"), bob: currentSession("bob"), carol: currentSession("carol") };
    const broker = currentBroker();
    broker.kill("SIGTERM");
    assert.equal(await broker.exited, 0, broker.output);
    const stoppedAt = Date.now();
    await startBroker();
    t.diagnostic(`dtcps restarted in ${Date.now() - stoppedAt} ms`);
    const [, bobUp] = await Promise.all((["alice", "bob", "carol"] as const).map((u) => tunnelUp(clients[u], marks[u])));
    for (const u of ["alice", "bob", "carol"] as const) {
      assert.match(clients[u].lines.slice(marks[u]).join("\n"), /the server ended the session: -ERR server shutting down; reconnecting in /);
      assert.notEqual(currentSession(u).id, before[u].id);
    }
    t.diagnostic(`every client back ${Date.now() - stoppedAt} ms after the daemon stopped`);
    assert.match(bobUp!, new RegExp(`network prefix ${bobPrefix}/48 `), "the delegation survives the restart");
    await Promise.all([pingsAll(ns.pub, EXT), pingsAll(ns.lan, EXT), pingsAll(ns.c2, EXT)]);
    await Promise.all([pingsAll(ns.ext, aliceAddress), pingsAll(ns.ext, lanAddress), pingsAll(ns.ext, carolAddress)]);
  });

  test("8. dtcps killed with SIGKILL, and its database refusing new sessions after the restart: -l clients keep retrying, none exits, all come back once it takes them", async (t) => {
    const marks = { alice: clients.alice.lines.length, bob: clients.bob.lines.length, carol: clients.carol.lines.length };
    const before = { alice: currentSession("alice"), bob: currentSession("bob"), carol: currentSession("carol") };
    // The database refuses every new session row, as a full disk would (the daemon cannot tell).
    const database = new Database(data!.env.DATABASE_URL!.slice("file:".length));
    database.exec(`CREATE TRIGGER refuse_sessions BEFORE INSERT ON "Session" BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    let dropped = false;
    const drop = () => {
      if (!dropped) database.exec("DROP TRIGGER refuse_sessions");
      dropped = true;
    };
    try {
      const broker = currentBroker();
      broker.kill("SIGKILL");
      await broker.exited;
      const killedAt = Date.now();
      await startBroker();
      for (const u of ["alice", "bob", "carol"] as const) {
        await clients[u].waitFor(/the server refused the tunnel: -ERR temporary failure, try again later; reconnecting in /, 60_000, marks[u]);
      }
      assert.deepEqual((["alice", "bob", "carol"] as const).filter((u) => !clients[u].running), [], "no client gave up");
      drop();
      const healed = Date.now();
      await Promise.all((["alice", "bob", "carol"] as const).map((u) => clients[u].waitFor(/tunnel up: /, 90_000, marks[u])));
      t.diagnostic(`every client back ${Date.now() - healed} ms after the database took sessions again (${healed - killedAt} ms after the kill)`);
      await Promise.all([pingsAll(ns.pub, EXT), pingsAll(ns.lan, EXT), pingsAll(ns.c2, EXT)]);
      // The killed daemon's sessions ended at its last heartbeat, not when the next one started.
      for (const u of ["alice", "bob", "carol"] as const) {
        const row = database.prepare(`SELECT endedAt, endReason FROM "Session" WHERE id = ?`).get(before[u].id) as { endedAt: string; endReason: string };
        assert.equal(row.endReason, "pop-lost");
        const early = killedAt - new Date(row.endedAt).getTime();
        assert.ok(early >= 0 && early <= 1_500, `${u}'s session ended ${early} ms before the kill`);
      }
    } finally {
      drop();
      database.close();
    }
  });

  // Last: `conntrack -F` also forgets the NAT's TCP mappings of the control connections, which
  // dtcpc notices only at its next ping (every 60 s); a broker restart after it would go unheard.
  test("4. NAT rebinding: after conntrack -F the NAT maps anew; traffic resumes within a keepalive, with no new login", async (t) => {
    const bob = currentSession("bob");
    const carol = currentSession("carol");
    const [, oldBob] = await waitForBinding(bob.id);
    const [, oldCarol] = await waitForBinding(carol.id);
    // The external host pings the LAN host every 50 ms, reporting each reply's time (-D).
    const pinger = new Child("ip", ["netns", "exec", ns.ext, "ping", "-6", "-n", "-D", "-i", "0.05", "-w", "3", lanAddress]);
    children.push(pinger);
    const isReply = (l: string) => / bytes from .* icmp_seq=/.test(l);
    await eventually("5 echo replies before the flush", async () => pinger.lines.filter(isReply).length >= 5, 5_000);
    const mark = brokerLog().length;
    const clientMarks = { bob: clients.bob.lines.length, carol: clients.carol.lines.length };
    await sh(ns.nat, "nft", `flush chain ip nat post\n${natRules(UDP_BLOCK_AFTER)}`);
    await sh(ns.nat, "conntrack", "-F");
    const [[bobAddress, newBob], [, newCarol]] = await Promise.all([waitForBinding(bob.id, mark), waitForBinding(carol.id, mark)]);
    assert.equal(bobAddress, NAT);
    for (const [was, now] of [[oldBob, newBob], [oldCarol, newCarol]] as const) {
      assert.ok(now >= UDP_BLOCK_AFTER[0] && now <= UDP_BLOCK_AFTER[1] && was <= UDP_BLOCK[1], `the outer port moved: ${was} → ${now}`);
    }
    await pinger.exited;
    const replies = pinger.lines.flatMap((l) => {
      const m = /^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+) /.exec(l);
      return m ? [{ at: Number(m[1]) * 1000, seq: Number(m[2]) }] : [];
    });
    const gaps = replies.slice(1).map((r, i) => r.at - replies[i]!.at);
    const outage = Math.max(...gaps);
    const sent = Number(/(\d+) packets transmitted/.exec(pinger.output)?.[1] ?? 0);
    assert.ok(replies.length > 0 && replies.at(-1)!.seq >= sent - 3, `replies resumed and went on to the end:\n${pinger.output}`);
    t.diagnostic(`outer ports ${oldBob} → ${newBob} (bob), ${oldCarol} → ${newCarol} (carol); no echo reply for ${Math.round(outage)} ms`);
    // Within two keepalive intervals: one by design, the second as room for a busy machine.
    assert.ok(outage <= 2 * KEEPALIVE_S * 1000, `no echo reply for ${Math.round(outage)} ms after the flush`);

    assert.deepEqual([currentSession("bob").id, currentSession("carol").id], [bob.id, carol.id], "no new login in the daemon's log");
    assert.ok(!brokerLog().slice(mark).some((l) => / ended: /.test(l)), "no session ended");
    for (const u of ["bob", "carol"] as const) assert.doesNotMatch(clients[u].lines.slice(clientMarks[u]).join("\n"), /tunnel up|reconnecting/);
    const live = JSON.parse(dtcpctl(env, ["sessions", "--live", "--json"])) as { id: number; user: string }[];
    assert.deepEqual(live.map((s) => [s.user, s.id]).sort(), [["alice", currentSession("alice").id], ["bob", bob.id], ["carol", carol.id]].sort(), "the same sessions in the database");
  });
});
