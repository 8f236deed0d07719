// IPv6 where only TCP gets through, end to end in network namespaces made (and removed) here:
//
//   ext ── broker ─┬─ nat ── c (the client behind a NAT and its firewall) ── lan (a host on c's LAN)
//                  └─ pub (a second client, in the open)
//
//   ext fd00:e::2/64, routes 2001:db8::/32 (the pools) to the broker's fd00:e::1
//   broker 100.66.0.1 to the NAT's outside 100.66.0.2, and 100.66.1.1 to pub 100.66.1.2
//   nat 10.66.0.1 to c 10.66.0.2 (c's default route)
//   c's lan0 to lan's h0: numbered by dtcpc -P from c's delegated prefix, h0 configured by the
//   router advertisements dtcpc has sent there (radvd's, or its own)
//
// The NAT masquerades; its firewall (nftables, forward chain) drops what the scenario says: UDP
// and protocol 41, or everything but TCP to port 443. dtcps offers TCP tunnels on 20202 and TLS
// ones on 443 with its own self-signed certificate.
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { X509Certificate } from "node:crypto";
import { Namespaces, run, skipUnlessRoot } from "./support/namespaces.ts";
import { Child, dtcpctl, nodeIn } from "./support/processes.ts";
import { tempDataDir } from "./support/broker.ts";

const skip = skipUnlessRoot("needs root (ip netns, TUN, raw sockets, nftables, conntrack)");

const BROKER = "100.66.0.1";
const BROKER_PUB = "100.66.1.1";
const EXT = "fd00:e::2";
const PASSWORDS = { alice: "alice-Tunnel-pw-1", bob: "bob-Tunnel-pw-22", mallory: "mallory-Tunnel-pw" } as const;
type Firewall = "open" | "tcp-only" | "443-only";

describe("IPv6 over TCP and TLS through a firewall that drops UDP and protocol 41", { skip, timeout: 240_000 }, () => {
  let data: ReturnType<typeof tempDataDir> | null = null;
  let authFile = "";
  const namespaces = new Namespaces();
  const ns = { ext: "", broker: "", nat: "", c: "", pub: "", lan: "" };
  const children: Child[] = [];
  let broker: Child;
  // Two packet workers: the sessions of the tests below are spread over both.
  const DTCPS_ARGS = ["bin/dtcps.js", "-U", "--tcp-tunnels", "20202", "--tls-tunnels", "443", "--tcp-stall-timeout", "4", "--workers", "2"];
  let fingerprint = "";

  const sh = (where: string, ...argv: string[]) => namespaces.exec(where, ...argv);
  const spawnIn = (where: string, args: string[]): Child => {
    const child = nodeIn(where, args, data!.env);
    children.push(child);
    return child;
  };
  const dtcpc = (where: string, user: keyof typeof PASSWORDS, ...args: string[]): Child =>
    spawnIn(where, ["bin/dtcpc.js", "-d", "-l", "-t", "host", "-R", "fd00:e::/64", "-u", user, "--auth-file", authFile, ...args]);
  /** The LAN host's address from the router advertisements (SLAAC), once it has one. */
  const lanAddress = async (): Promise<string> => {
    for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
      const m = /inet6 (2001:db8:\S+)\/64 scope global/.exec(await sh(ns.lan, "ip", "-6", "addr", "show", "dev", "h0"));
      if (m) return m[1]!;
    }
    throw new Error(`no address from router advertisements on the LAN:\n${await sh(ns.lan, "ip", "-6", "addr")}`);
  };
  const stop = async (child: Child) => {
    child.kill("SIGTERM");
    await child.exited;
  };
  const firewall = async (rules: Firewall) => {
    await sh(ns.nat, "nft", "flush", "chain", "inet", "filter", "forward");
    const drop = (rule: string) => sh(ns.nat, "nft", "add", "rule", "inet", "filter", "forward", "iifname", "l0", ...rule.split(" "), "drop");
    if (rules !== "open") {
      await drop("meta l4proto udp");
      await drop("ip protocol 41");
    }
    if (rules === "443-only") await drop("tcp dport != 443");
    // What the last scenario let through must not linger as established flows.
    await sh(ns.nat, "conntrack", "-F").catch(() => "");
  };
  const ping = async (from: string, to: string, count = 3): Promise<string> =>
    run("ip", ["netns", "exec", from, "ping", "-6", "-n", "-c", String(count), "-i", "0.2", "-W", "2", to], { timeout: 30_000 }).then(
      (r) => r.stdout,
      (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ""}${err.stderr ?? ""}`,
    );
  const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);

  before(async () => {
    data = tempDataDir();
    for (const key of Object.keys(ns) as (keyof typeof ns)[]) ns[key] = await namespaces.add(`t${key}`);
    for (const name of Object.values(ns)) await sh(name, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0");
    await namespaces.link(ns.ext, "x0", ns.broker, "e0");
    await namespaces.link(ns.broker, "b0", ns.nat, "n0");
    await namespaces.link(ns.broker, "b1", ns.pub, "p0");
    await namespaces.link(ns.nat, "l0", ns.c, "c0");
    await namespaces.link(ns.c, "lan0", ns.lan, "h0");
    await sh(ns.ext, "ip", "addr", "add", `${EXT}/64`, "dev", "x0");
    await sh(ns.ext, "ip", "route", "add", "2001:db8::/32", "via", "fd00:e::1");
    await sh(ns.broker, "ip", "addr", "add", "fd00:e::1/64", "dev", "e0");
    await sh(ns.broker, "ip", "addr", "add", `${BROKER}/24`, "dev", "b0");
    await sh(ns.broker, "ip", "addr", "add", `${BROKER_PUB}/24`, "dev", "b1");
    await sh(ns.nat, "ip", "addr", "add", "100.66.0.2/24", "dev", "n0");
    await sh(ns.nat, "ip", "addr", "add", "10.66.0.1/24", "dev", "l0");
    await sh(ns.nat, "sysctl", "-qw", "net.ipv4.ip_forward=1");
    await sh(ns.c, "ip", "addr", "add", "10.66.0.2/24", "dev", "c0");
    await sh(ns.c, "ip", "route", "add", "default", "via", "10.66.0.1");
    await sh(ns.pub, "ip", "addr", "add", "100.66.1.2/24", "dev", "p0");
    const rules = join(data.dir, "nat.nft");
    writeFileSync(
      rules,
      `table ip nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "n0" masquerade
  }
}
table inet filter {
  chain forward {
    type filter hook forward priority 0;
  }
}
`,
    );
    await sh(ns.nat, "nft", "-f", rules);

    dtcpctl(data.env, ["pool", "add", "2001:db8:ff00::/64", "--purpose", "link"]);
    dtcpctl(data.env, ["pool", "add", "2001:db8:100::/40", "--purpose", "delegation", "--size", "48", "--auto"]);
    for (const [user, password] of Object.entries(PASSWORDS)) dtcpctl(data.env, ["user", "add", user, "--tunnel-password-stdin"], `${password}\n`);
    authFile = join(data.dir, "dtcpc.auth");
    writeFileSync(authFile, Object.entries(PASSWORDS).flatMap(([u, p]) => [`${BROKER}:${u}:${p}`, `${BROKER_PUB}:${u}:${p}`]).join("\n") + "\n", { mode: 0o600 });

    broker = spawnIn(ns.broker, DTCPS_ARGS);
    await broker.waitFor(/dtcps listening on/, 30_000);
    fingerprint = new X509Certificate(readFileSync(join(data.dir, "tls.crt"))).fingerprint256;
    assert.match(broker.output, new RegExp(`IPv6 over TLS on 0\\.0\\.0\\.0:443 \\(self-signed certificate .*; clients pin sha256 ${fingerprint}\\)`));
  });
  after(async () => {
    for (const c of children) c.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    await namespaces.removeAll();
    data?.cleanup();
  });

  test("with UDP and protocol 41 dropped, --tcp carries IPv6 both ways through the NAT", async () => {
    await firewall("tcp-only");
    const alice = dtcpc(ns.c, "alice", "--tcp", BROKER);
    await alice.waitFor(/tunnel up: host \S+ <-> \S+ on dtcp0, TCP to 100\.66\.0\.1 port 20202/, 30_000);
    assert.match(await ping(ns.c, EXT), /3 packets transmitted, 3 received/, alice.output);
    const client6 = /host (\S+) <->/.exec(alice.lines.find((l) => l.includes("tunnel up: "))!)![1]!;
    assert.match(await ping(ns.ext, client6), /3 packets transmitted, 3 received/, "the external host reaches the client");
    assert.match(broker.output, /alice host over tcp from 100\.66\.0\.2/);
    await stop(alice);
  });

  test("behind the firewall, over TCP, the LAN host numbered by -P and configured by router advertisement reaches the external host, and back", async () => {
    await firewall("tcp-only");
    const router = spawnIn(ns.c, ["bin/dtcpc.js", "-d", "-l", "--tcp", "-t", "network", "-P", "lan0/1", "-u", "alice", "--auth-file", authFile, BROKER]);
    await router.waitFor(/router advertisements on lan0 by \S*radvd/, 30_000);
    const up = await router.waitFor(/tunnel up: network prefix \S+/, 30_000);
    const prefix = (/prefix (2001:db8:[0-9a-f:]+)::\/48/.exec(up) ?? assert.fail(router.output))[1]!;
    assert.match(router.output, new RegExp(`LAN lan0: ${prefix}:1::1/64`));
    const host = await lanAddress();
    assert.ok(host.startsWith(`${prefix}:1:`), `${host} is in the LAN's /64`);
    assert.match(await ping(ns.lan, EXT), /3 packets transmitted, 3 received/, router.output);
    assert.match(await ping(ns.ext, host), /3 packets transmitted, 3 received/, "the external host reaches the LAN host");
    await stop(router);
    assert.doesNotMatch(await sh(ns.c, "ip", "-6", "addr", "show", "dev", "lan0"), /scope global/, "the LAN address is gone with the tunnel");
    await sh(ns.lan, "ip", "-6", "addr", "flush", "dev", "h0", "scope", "global");

    // Without radvd, dtcpc sends the advertisements itself.
    const own = nodeIn(ns.c, ["bin/dtcpc.js", "-d", "-l", "--tcp", "-t", "network", "-P", "lan0/2", "-u", "alice", "--auth-file", authFile, BROKER], { ...data!.env, DTCPC_RADVD: "" });
    children.push(own);
    await own.waitFor(/router advertisements on lan0 sent by dtcpc/, 30_000);
    const second = await lanAddress();
    assert.ok(second.startsWith(`${prefix}:2:`), second);
    assert.match(await ping(ns.lan, EXT), /3 packets transmitted, 3 received/, own.output);
    await stop(own);
  });

  test("--transport auto settles on TCP by itself when UDP is dropped, and on UDP when it is not", async () => {
    const started = Date.now();
    const blocked = dtcpc(ns.c, "alice", "--transport", "auto", BROKER);
    await blocked.waitFor(/transport: settled on TCP/, 15_000).catch(async (err: Error) =>
      assert.fail(`${err.message}\n${broker.output.split("\n").slice(-15).join("\n")}\n${await sh(ns.nat, "nft", "list", "ruleset")}`),
    );
    assert.ok(Date.now() - started < 15_000);
    assert.match(blocked.output, /transport: UDP did not work \(nothing came back over UDP within 5 s\); trying TCP/);
    assert.match(await ping(ns.c, EXT), /3 packets transmitted, 3 received/, blocked.output);
    await stop(blocked);

    // With a pin, the login itself goes inside TLS every time; the packets still take what gets through.
    const pinnedBlocked = dtcpc(ns.c, "alice", "--transport", "auto", "--pin", fingerprint, BROKER);
    await pinnedBlocked.waitFor(/transport: settled on TLS/, 15_000);
    assert.match(pinnedBlocked.output, /transport: UDP \(control over TLS\) did not work \(nothing came back over UDP within 5 s\); trying TLS/);
    assert.match(await ping(ns.c, EXT), /3 packets transmitted, 3 received/, pinnedBlocked.output);
    await stop(pinnedBlocked);

    await firewall("open");
    const open = dtcpc(ns.c, "alice", "--transport", "auto", BROKER);
    await open.waitFor(/transport: settled on UDP \(the server's answer came back through the tunnel\)/, 15_000);
    assert.match(await ping(ns.c, EXT), /3 packets transmitted, 3 received/, open.output);
    await stop(open);

    const pinnedOpen = dtcpc(ns.c, "alice", "--transport", "auto", "--pin", fingerprint, BROKER);
    await pinnedOpen.waitFor(/transport: settled on UDP \(control over TLS\)/, 15_000);
    assert.match(pinnedOpen.output, /connecting to 100\.66\.0\.1 port 443 \(TLS\)/);
    assert.doesNotMatch(pinnedOpen.output, /port 20200/, "nothing goes to the plain DTCP port");
    assert.match(pinnedOpen.output, /tunnel up: host \S+ <-> \S+ on dtcp0, UDP to 100\.66\.0\.1 port \d+ \(control connection over TLS\)/);
    assert.match(await ping(ns.c, EXT), /3 packets transmitted, 3 received/, pinnedOpen.output);
    await stop(pinnedOpen);
  });

  test("with only TCP to port 443 let through, TLS works (auto gets there too), and a wrong pin is refused", async () => {
    await firewall("443-only");
    const pinned = dtcpc(ns.c, "alice", "--tls", "--pin", fingerprint, BROKER);
    await pinned.waitFor(/tunnel up: /, 30_000);
    assert.match(await ping(ns.c, EXT), /3 packets transmitted, 3 received/, pinned.output);
    await stop(pinned);

    const wrong = dtcpc(ns.c, "alice", "--tls", "--pin", "AB:".repeat(31) + "AB", BROKER);
    assert.notEqual(await wrong.exited, 0);
    assert.match(wrong.output, /the server's certificate \(sha256 [0-9A-F:]+\) is not the pinned one/);

    const auto = dtcpc(ns.c, "alice", "--transport", "auto", "--pin", fingerprint, BROKER);
    await auto.waitFor(/transport: settled on TLS/, 60_000);
    assert.match(await ping(ns.c, EXT), /3 packets transmitted, 3 received/);
    await stop(auto);
    await firewall("open");
  });

  test("a frame longer than the tunnel's MTU ends the session, saying why", async () => {
    const bad = spawnIn(ns.pub, ["--import", "tsx", "test/support/stalled-tcp-client.ts", BROKER_PUB, "20200", "mallory", PASSWORDS.mallory, "oversize"]);
    const line = await bad.waitFor(/^control: /, 15_000);
    assert.match(line, /^control: -ERR tunnel connection closed: tcp 100\.66\.1\.2:\d+: a packet of 65535 bytes, over the largest of 1280$/);
    bad.kill("SIGTERM");
  });

  test("a client that stops reading its TCP connection costs the broker a bounded amount, and another client's traffic goes on", async () => {
    const bob = dtcpc(ns.pub, "bob", "--tcp", BROKER_PUB);
    await bob.waitFor(/tunnel up: /, 30_000);
    const mallory = spawnIn(ns.c, ["--import", "tsx", "test/support/stalled-tcp-client.ts", BROKER, "20200", "mallory", PASSWORDS.mallory]);
    const attached = await mallory.waitFor(/^attached /, 30_000);
    const target = attached.split(" ")[1]!;
    const before = rssKb(broker.pid!);
    // 8 s of 1200-byte datagrams to the stalled client's address from the external host.
    const flood = spawnIn(ns.ext, [
      "-e",
      `const s = require("node:dgram").createSocket("udp6"); const b = Buffer.alloc(1200); const end = Date.now() + 8000;
       const go = () => { for (let i = 0; i < 200; i++) s.send(b, 9, "${target}"); if (Date.now() < end) setImmediate(go); else s.close(); }; go();`,
    ]);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKb(broker.pid!))), 100);
    const during = await ping(ns.pub, EXT, 10);
    await flood.exited;
    clearInterval(sampler);
    assert.match(during, /10 packets transmitted, 10 received/, "bob's traffic is unaffected");
    assert.ok(peak - before < 64 * 1024, `the broker grew by ${Math.round((peak - before) / 1024)} MB`);
    await broker.waitFor(/mallory: the client read nothing for \d+ s \(\d+ bytes waiting\); ending it/, 15_000);
    assert.match(await ping(ns.pub, EXT), /3 packets transmitted, 3 received/);
    await stop(bob);
  });

  test("-D goes to the background with its pidfile and log; -o leaves the TUN configured, and the next dtcpc takes it over", async () => {
    const pidFile = join(data!.dir, "dtcpc.pid");
    const logFile = join(data!.dir, "dtcpc.log");
    const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
    const front = dtcpc(ns.pub, "bob", "--tcp", "-D", "-o", "-f", pidFile, "--log-file", logFile, "-i", "kept0", BROKER_PUB);
    assert.equal(await front.exited, 0, front.output);
    const pid = Number(/running in the background as pid (\d+), logging to /.exec(front.output)?.[1]);
    assert.ok(pid > 0, front.output);
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      await until(() => /tunnel up: host \S+ <-> \S+ on kept0, TCP/.test(log()), 30_000, () => log());
      assert.equal(readFileSync(pidFile, "utf8"), `${pid}\n`);
      assert.match(await ping(ns.pub, EXT), /3 packets transmitted, 3 received/);
      const client6 = /host (\S+) <->/.exec(log())![1]!;
      process.kill(pid, "SIGTERM");
      await until(() => !alive() && !existsSync(pidFile), 15_000, () => log());
      assert.match(log(), /the tunnel interface stays configured \(-o\)/);
      assert.match(await sh(ns.pub, "ip", "-6", "addr", "show", "dev", "kept0"), new RegExp(`inet6 ${client6}/128 scope global`));
      assert.match(await sh(ns.pub, "ip", "-6", "route", "show", "dev", "kept0"), /fd00:e::\/64 metric 50/);

      const again = dtcpc(ns.pub, "bob", "--tcp", "-i", "kept0", BROKER_PUB);
      await again.waitFor(/tunnel up: host \S+ <-> \S+ on kept0/, 30_000);
      assert.match(again.output, /kept0 was left configured by an earlier dtcpc -o: its addresses and routes are replaced/);
      assert.match(await ping(ns.pub, EXT), /3 packets transmitted, 3 received/);
      await stop(again);
      assert.doesNotMatch(await sh(ns.pub, "ip", "link", "show"), /kept0/, "without -o the TUN goes at exit");
    } finally {
      if (alive()) process.kill(pid, "SIGKILL");
      await sh(ns.pub, "ip", "link", "del", "kept0").catch(() => "");
    }
  });

  // Last: it replaces the daemon.
  test("dtcps killed with SIGKILL, its database then refusing new sessions: a -l client over TCP keeps retrying, does not exit, and comes back", async () => {
    await firewall("tcp-only");
    const alice = dtcpc(ns.c, "alice", "--tcp", BROKER);
    await alice.waitFor(/tunnel up: host \S+ <-> \S+ on dtcp0, TCP/, 30_000);
    const mark = alice.lines.length;
    const database = new Database(data!.env.DATABASE_URL!.slice("file:".length));
    database.exec(`CREATE TRIGGER refuse_sessions BEFORE INSERT ON "Session" BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    let refusing = true;
    try {
      broker.kill("SIGKILL");
      await broker.exited;
      broker = spawnIn(ns.broker, DTCPS_ARGS);
      await broker.waitFor(/dtcps listening on/, 30_000);
      await alice.waitFor(/the server refused the tunnel: -ERR temporary failure, try again later; reconnecting in /, 60_000, mark);
      assert.equal(alice.running, true, "it did not give up");
      database.exec("DROP TRIGGER refuse_sessions");
      refusing = false;
      await alice.waitFor(/tunnel up: host \S+ <-> \S+ on dtcp0, TCP/, 90_000, mark);
      assert.match(await ping(ns.c, EXT), /3 packets transmitted, 3 received/, alice.output);
    } finally {
      if (refusing) database.exec("DROP TRIGGER refuse_sessions");
      database.close();
    }
    await stop(alice);
  });
});

async function until(done: () => boolean, ms: number, explain: () => string): Promise<void> {
  for (const end = Date.now() + ms; !done(); await new Promise((r) => setTimeout(r, 100))) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms:\n${explain()}`);
  }
}
