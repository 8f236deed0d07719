// dtcpc against a hostile server (or anyone on the path of its plain control connection): a scripted
// fake server sends each reply of the threat model, and the client machine's state is checked after
// each one and after the client exits: its addresses and routes, what a LAN host learnt, where
// packets went (a third host on the segment counts what reaches it), what was printed, the exit code.
//
//   hs (fake server 10.99.0.1, bridge br0) ─┬─ hc (dtcpc 10.99.0.2; IPv6 uplink 2001:db8:1::2/64 via 2001:db8:1::1) ── hl (LAN host, SLAAC)
//                                           └─ ht (a third host 10.99.0.3, counting)
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { after, afterEach, before, describe, test } from "node:test";
import { Namespaces, run, skipUnlessRoot } from "../support/namespaces.ts";
import { Child, eventually, nodeIn } from "../support/processes.ts";
import { selfSignedCertificate, type TestCertificate } from "../support/tls.ts";
import type { HostileScript } from "../support/hostile-server.ts";

const skip = skipUnlessRoot("needs root (ip netns, TUN, raw sockets)");

const SERVER = "10.99.0.1";
const CLIENT = "10.99.0.2";
const THIRD = "10.99.0.3";
const GATEWAY6 = "2001:db8:1::1";
const UPLINK6 = "2001:db8:1::2";
const ME6 = "2001:db8:ff::2";
const HER6 = "2001:db8:ff::1";
const HOST_REPLY = `+OK {client} ${SERVER} ${ME6} ${HER6}`;

describe("dtcpc against a hostile server", { skip, timeout: 600_000 }, () => {
  const namespaces = new Namespaces();
  const children: Child[] = [];
  const ns = { s: "", c: "", t: "", l: "" };
  let cert: TestCertificate;
  let other: TestCertificate;
  let fingerprint = "";
  let baseline = "";
  const env = { ...process.env, DTCPC_RADVD: "" };
  const dir = mkdtempSync(join(tmpdir(), "dtcpc-hostile-"));
  const authFile = join(dir, "dtcpc.auth");

  const sh = (n: string, ...argv: string[]) => namespaces.exec(n, ...argv);
  const spawn = (n: string, args: string[], extra: NodeJS.ProcessEnv = {}): Child => {
    const child = nodeIn(n, args, { ...env, ...extra });
    children.push(child);
    return child;
  };
  const hostile = async (script: HostileScript): Promise<Child> => {
    const server = spawn(ns.s, ["--import", "tsx", "test/support/hostile-server.ts", JSON.stringify(script)]);
    await server.waitFor(/"event":"ready"/, 20_000);
    return server;
  };
  const events = (server: Child) => server.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { event: string; listener?: string; text?: string });
  const dtcpc = (args: string[], extra: NodeJS.ProcessEnv = {}) => spawn(ns.c, ["bin/dtcpc.js", "-d", "-u", "alice", "--auth-file", authFile, ...args, SERVER], extra);
  /** The client machine's IPv6 addresses and routes and its links: what a refused reply must leave as it was. */
  const clientState = async () =>
    [await sh(ns.c, "ip", "-6", "addr", "show"), await sh(ns.c, "ip", "-6", "route", "show", "table", "all"), await sh(ns.c, "ip", "-br", "link", "show")]
      .join("\n")
      .replace(/valid_lft \S+ preferred_lft \S+/g, "");
  /** Packets from the client that reached the third host, and the fake server, since the last reset. */
  const counted = async (n: string): Promise<number> => {
    const json = JSON.parse(await sh(n, "nft", "-j", "list", "table", "inet", "count")) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] };
    return json.nftables.flatMap((i) => i.rule?.expr ?? []).reduce((sum, e) => sum + (e.counter?.packets ?? 0), 0);
  };
  const resetCounters = async () => {
    for (const n of [ns.t, ns.s]) await sh(n, "nft", "reset", "counters", "table", "inet", "count");
  };
  /** Pings through the tunnel; no answer is expected (the fake server carries nothing), only packets out. */
  const pingThrough = (to: string) => run("ip", ["netns", "exec", ns.c, "ping", "-6", "-n", "-c", "5", "-i", "0.2", "-W", "1", to]).catch(() => {});
  const stop = async (client: Child) => {
    client.kill("SIGTERM");
    return client.exited;
  };
  /** The LAN host's addresses in `prefix` (a string start) with their lifetimes, and its default routes. */
  const lanView = async (start: string) => {
    const links = JSON.parse(await sh(ns.l, "ip", "-j", "-6", "addr", "show", "dev", "l0")) as { addr_info: { local: string; valid_life_time: number; preferred_life_time: number }[] }[];
    const addresses = links.flatMap((l) => l.addr_info).filter((a) => a.local.startsWith(start));
    const routes = JSON.parse(await sh(ns.l, "ip", "-j", "-6", "route", "show", "default")) as { gateway?: string; expires?: number }[];
    return { addresses, defaults: routes };
  };

  before(async () => {
    cert = selfSignedCertificate("hostile test", `IP:${SERVER}`);
    other = selfSignedCertificate("impostor", `IP:${SERVER}`);
    fingerprint = new X509Certificate(cert.cert).fingerprint256;
    ns.s = await namespaces.add("hs");
    ns.c = await namespaces.add("hc");
    ns.t = await namespaces.add("ht");
    ns.l = await namespaces.add("hl");
    for (const n of Object.values(ns)) await sh(n, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0");
    await sh(ns.s, "ip", "link", "add", "br0", "type", "bridge");
    await sh(ns.s, "ip", "link", "set", "br0", "up");
    await namespaces.link(ns.s, "s-c", ns.c, "c0");
    await namespaces.link(ns.s, "s-t", ns.t, "t0");
    for (const port of ["s-c", "s-t"]) await sh(ns.s, "ip", "link", "set", port, "master", "br0");
    await sh(ns.s, "ip", "addr", "add", `${SERVER}/24`, "dev", "br0");
    await sh(ns.s, "ip", "-6", "addr", "add", `${GATEWAY6}/64`, "dev", "br0", "nodad");
    await sh(ns.c, "ip", "addr", "add", `${CLIENT}/24`, "dev", "c0");
    await sh(ns.c, "ip", "-6", "addr", "add", `${UPLINK6}/64`, "dev", "c0", "nodad");
    await sh(ns.c, "ip", "-6", "route", "add", "default", "via", GATEWAY6, "dev", "c0");
    await sh(ns.t, "ip", "addr", "add", `${THIRD}/24`, "dev", "t0");
    await namespaces.link(ns.c, "lan0", ns.l, "l0");
    await sh(ns.l, "sysctl", "-qw", "net.ipv6.conf.l0.accept_ra=2", "net.ipv6.conf.l0.autoconf=1");
    const rules = `table inet count {\n  chain pre {\n    type filter hook prerouting priority -300;\n    ip saddr ${CLIENT} meta l4proto 41 counter\n    ip saddr ${CLIENT} meta l4proto udp counter\n  }\n}\n`;
    for (const n of [ns.t, ns.s]) execFileSync("ip", ["netns", "exec", n, "nft", "-f", "-"], { input: rules });
    writeFileSync(authFile, `${SERVER}:alice:alice-Tunnel-pw-1\n`, { mode: 0o600 });
    baseline = await clientState();
  });
  afterEach(async () => {
    const running = children.splice(0);
    for (const c of running) c.kill("SIGKILL");
    await Promise.all(running.map((c) => c.exited));
    await sh(ns.l, "ip", "-6", "addr", "flush", "dev", "l0", "scope", "global");
    await sh(ns.l, "ip", "-6", "route", "flush", "default").catch(() => {});
  });
  after(async () => {
    await namespaces.removeAll();
    cert?.cleanup();
    other?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs dtcpc against `script` until it exits by itself; returns its exit code and output. */
  const refusedBy = async (script: HostileScript, args: string[]) => {
    const server = await hostile(script);
    const client = dtcpc(args);
    const code = await Promise.race([client.exited, new Promise<"running">((r) => setTimeout(() => r("running"), 30_000))]);
    return { code, output: client.output, server };
  };
  const assertNothingConfigured = async (output: string) => {
    assert.equal(await clientState(), baseline, `nothing configured, nothing left:\n${output}`);
  };

  test("what held must stay held: replies that would reach a shell or are malformed are refused with nothing configured", async () => {
    const marker = join(dir, "pwned");
    for (const [reply, args] of [
      [`+OK {client} ${SERVER} $(touch${"${IFS}"}${marker}) ${HER6}`, ["-t", "host"]],
      [`+OK {client} ${SERVER} \`touch ${marker}\` ${HER6}`, ["-t", "host"]],
      [`+OK {client} ${SERVER} -f`, ["-t", "network"]],
      [`+OK {client} ${SERVER} ${ME6}%c0 ${HER6}`, ["-t", "host"]],
      [`+OK {client} ${SERVER} 2001:db8:500::/129`, ["-t", "network"]],
      [`+OK {client} ${SERVER} udp=0`, ["-U"]],
      [`+OK {client} ${SERVER} udp=99999`, ["-U"]],
      [`+OK {client} ${SERVER} udp=abc`, ["-U"]],
    ] as const) {
      const { code, output, server } = await refusedBy({ plainPort: 20200, reply }, [...args, "-s", "/bin/true"]);
      assert.equal(code, 1, `${reply}\n${output}`);
      assert.doesNotMatch(output, /tunnel up/);
      await assertNothingConfigured(output);
      server.kill("SIGTERM");
      await server.exited;
    }
    assert.ok(!existsSync(marker), "no shell ran the reply");
  });

  test("what held must stay held: an endless line is cut at 1,024 bytes; empty and garbage frames over --tcp are survived", async () => {
    const { code, output, server } = await refusedBy({ plainPort: 20200, endlessGreetingBytes: 8 << 20, reply: HOST_REPLY }, ["-t", "host"]);
    assert.equal(code, 1, output);
    assert.match(output, /the server sent a line of more than 1024 bytes/);
    server.kill("SIGTERM");
    await server.exited;

    await hostile({ plainPort: 20200, reply: `${HOST_REPLY} tcp=20202 token=${"0".repeat(32)}`, data: { port: 20202, frames: [0, 0, 40, 0], raw: "0005ffffffffff0000" } });
    const client = dtcpc(["-t", "host", "--tcp"]);
    await client.waitFor(/tunnel up: host .* TCP to 10\.99\.0\.1 port 20202/, 20_000);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.ok(client.running, client.output);
    assert.equal(await stop(client), 0, client.output);
  });

  test("what held must stay held: twenty reconnects with -P and radvd leak no descriptor, TUN or radvd", async () => {
    await hostile({ plainPort: 20200, reply: `+OK {client} ${SERVER} 2001:db8:5{n}::/48` });
    const client = dtcpc(["-l", "-t", "network", "-P", "lan0/1"], { DTCPC_RADVD: "/usr/sbin/radvd" });
    await client.waitFor(/router advertisements on lan0 by/, 20_000);
    const descriptors = () => readdirSync(`/proc/${client.pid}/fd`).length;
    const first = descriptors();
    for (let i = 2; i <= 21; i++) {
      const from = client.lines.length;
      process.kill(client.pid!, "SIGHUP");
      await client.waitFor(new RegExp(`tunnel up: network prefix 2001:db8:5${i}::/48`), 20_000, from);
      await client.waitFor(/router advertisements on lan0 by/, 20_000, from);
    }
    assert.ok(descriptors() <= first + 2, `descriptors: ${first} at first, ${descriptors()} after 20 reconnects`);
    const links = await sh(ns.c, "ip", "-br", "link", "show");
    assert.equal(links.split("\n").filter((l) => l.startsWith("dtcp")).length, 1, links);
    const radvds = (await run("pgrep", ["-P", String(client.pid), "-x", "radvd"]).then((r) => r.stdout, () => "")).split("\n").filter((l) => l !== "");
    assert.equal(radvds.length, 1, "one radvd, this session's");
    assert.equal(await stop(client), 0, client.output);
    assert.ok(!existsSync(`/proc/${radvds[0]}`), "and it is gone with dtcpc");
  });

  test("--transport auto --pin: nothing goes out before the server has shown the pinned certificate", async () => {
    // An impostor answers plain DTCP and shows its own certificate.
    const { code, output, server } = await refusedBy(
      { plainPort: 20200, tls: { port: 443, certFile: other.certFile, keyFile: other.keyFile }, reply: HOST_REPLY },
      ["--transport", "auto", "--pin", fingerprint, "-t", "host"],
    );
    assert.equal(code, 1, output);
    assert.match(output, /the server's certificate \(sha256 [0-9A-F:]+\) is not the pinned one/);
    assert.deepEqual(events(server).filter((e) => e.event === "connect" && e.listener === "plain"), [], "no plain connection at all");
    assert.deepEqual(events(server).filter((e) => e.event === "line"), [], "no login sent to anyone");
    await assertNothingConfigured(output);

    // The real server: the login goes inside TLS, asking for UDP; nothing touches the plain port.
    server.kill("SIGTERM");
    await server.exited;
    const real = await hostile({ plainPort: 20200, tls: { port: 443, certFile: cert.certFile, keyFile: cert.keyFile }, reply: `${HOST_REPLY} udp=4028` });
    const client = dtcpc(["--transport", "auto", "--pin", fingerprint, "-t", "host"]);
    await client.waitFor(/tunnel up: host .* UDP to 10\.99\.0\.1 port 4028 \(control connection over TLS\)/, 20_000);
    const lines = events(real).filter((e) => e.event === "line");
    assert.deepEqual(lines.map((e) => [e.listener, e.text]), [["tls", "tunnel alice <response> host proto=udp"]]);
    assert.equal(events(real).filter((e) => e.listener === "plain").length, 0);
    await stop(client);
  });

  for (const [name, reply, args] of [
    ["a third host", `+OK {client} ${THIRD} ${ME6} ${HER6}`, ["-n"]],
    ["a third host, on the DNS port over UDP", `+OK {client} ${THIRD} ${ME6} ${HER6} udp=53`, ["-U", "-n"]],
    ["the all-hosts multicast group", `+OK {client} 224.0.0.1 ${ME6} ${HER6}`, ["-n"]],
    ["the client's own address", `+OK {client} ${CLIENT} ${ME6} ${HER6}`, ["-n"]],
    ["loopback, over UDP to a forwarded port", `+OK {client} 127.0.0.1 ${ME6} ${HER6} udp=4028`, ["-U", "-B", "4028", "-n"]],
  ] as const) {
    test(`a reply naming ${name} as the server's tunnel address: packets still go only to the server the client reached`, async () => {
      await hostile({ plainPort: 20200, reply });
      const client = dtcpc(["-t", "host", ...args]);
      await client.waitFor(/tunnel up: host .* to 10\.99\.0\.1/, 20_000);
      assert.match(client.output, /the server names \S+ as its tunnel address; packets go to 10\.99\.0\.1/);
      await resetCounters();
      await pingThrough(HER6);
      assert.equal(await counted(ns.t), 0, "nothing reached the third host");
      assert.ok((await counted(ns.s)) >= 5, `the pings went to the server (${await counted(ns.s)})`);
      const loopback = await sh(ns.c, "ip", "-s", "link", "show", "lo");
      assert.ok(Number(/RX:.*\n\s+(\d+)\s+(\d+)/.exec(loopback)?.[2] ?? 0) < 50, `no routing loop through loopback:\n${loopback}`);
      await stop(client);
    });
  }

  test("--tunnel-server reply follows the server, but never to multicast, loopback or the client's own address", async () => {
    for (const named of ["224.0.0.1", "127.0.0.1", CLIENT, "255.255.255.255"]) {
      const { code, output, server } = await refusedBy({ plainPort: 20200, reply: `+OK {client} ${named} ${ME6} ${HER6}` }, ["-t", "host", "-n", "--tunnel-server", "reply"]);
      assert.equal(code, 1, output);
      assert.match(output, /refusing the server's reply: the server names .* as its tunnel address/);
      await assertNothingConfigured(output);
      server.kill("SIGTERM");
      await server.exited;
    }
    await hostile({ plainPort: 20200, reply: `+OK {client} ${THIRD} ${ME6} ${HER6}` });
    const client = dtcpc(["-t", "host", "-n", "--tunnel-server", "reply"]);
    await client.waitFor(/tunnel up: host .* protocol 41 to 10\.99\.0\.3/, 20_000);
    await resetCounters();
    await pingThrough(HER6);
    assert.ok((await counted(ns.t)) >= 5, "the user asked for it: the named host gets the tunnel");
    await stop(client);
  });

  for (const [prefix, why] of [
    ["fe80::/10", /link-local/],
    ["::/0", /overlaps ::\/96/],
    ["::ffff:0:0/96", /IPv4-mapped/],
    ["2001:db8:500::/72", /longer than a \/64/],
    ["2001:db8:1::/48", /covers 2001:db8:1::2, an address of this host on c0/],
  ] as const) {
    test(`-P refuses the delegated prefix ${prefix} before numbering or announcing anything`, async () => {
      const { code, output } = await refusedBy({ plainPort: 20200, reply: `+OK {client} ${SERVER} ${prefix}` }, ["-t", "network", "-P", "lan0/1"]);
      assert.equal(code, 1, output);
      assert.match(output, why);
      await assertNothingConfigured(output);
      assert.deepEqual((await lanView("2")).addresses, [], "the LAN host learnt nothing");
      assert.deepEqual((await lanView("2")).defaults, []);
    });
  }

  test("a LAN numbered by hand from the delegated prefix is the user's own, not a capture", async () => {
    await sh(ns.c, "ip", "-6", "addr", "add", "2001:db8:600:1::1/64", "dev", "lan0", "nodad");
    try {
      await hostile({ plainPort: 20200, reply: `+OK {client} ${SERVER} 2001:db8:600::/48` });
      const client = dtcpc(["-t", "network"]);
      await client.waitFor(/tunnel up: network prefix 2001:db8:600::\/48/, 20_000);
      assert.equal(await stop(client), 0, client.output);
    } finally {
      await sh(ns.c, "ip", "-6", "addr", "del", "2001:db8:600:1::1/64", "dev", "lan0");
    }
  });

  for (const radvd of ["", "/usr/sbin/radvd"]) {
    test(`-P (${radvd === "" ? "dtcpc's own advertisements" : "radvd"}): short lifetimes while running; at exit and on every change of prefix the LAN is told the router and the prefix are gone`, async () => {
      // Each login hands out another prefix, and the server ends each session after 3 s.
      await hostile({ plainPort: 20200, reply: `+OK {client} ${SERVER} 2001:db8:5{n}::/48`, endAfterMs: 3_000 });
      const client = dtcpc(["-l", "-t", "network", "-P", "lan0/1"], { DTCPC_RADVD: radvd });
      await client.waitFor(/tunnel up: network prefix 2001:db8:51::\/48/, 20_000);
      const running = await eventually("a LAN address from the first prefix", async () => {
        const view = await lanView("2001:db8:51:1:");
        return view.addresses.length > 0 && view.defaults.length > 0 ? view : undefined;
      });
      assert.ok(running.addresses.every((a) => a.valid_life_time <= 900 && a.preferred_life_time <= 300), JSON.stringify(running));
      assert.ok(running.defaults.every((r) => (r.expires ?? Infinity) <= 90), JSON.stringify(running.defaults));
      await client.waitFor(/tunnel up: network prefix 2001:db8:53::\/48/, 30_000);
      await eventually("a LAN address from the third prefix", async () => (await lanView("2001:db8:53:1:")).addresses.length > 0);
      const code = await stop(client);
      assert.equal(code, 0, client.output);
      assert.match(client.output, /withdrew 2001:db8:53:1::\/64 \(router lifetime 0, prefix deprecated\)/);
      const gone = await eventually("the goodbye", async () => {
        const view = await lanView("2001:db8:5");
        return view.defaults.length === 0 && view.addresses.every((a) => a.preferred_life_time === 0) ? view : undefined;
      });
      assert.ok(gone.addresses.every((a) => a.valid_life_time <= 900), `no address outlives the short lifetime: ${JSON.stringify(gone.addresses)}`);
      const routes = await sh(ns.l, "ip", "-6", "route", "show");
      assert.doesNotMatch(routes, /2001:db8:5/, "no on-link route to the old prefixes");
    });
  }

  test("addresses that would capture the client's own network are refused, saying why", async () => {
    for (const [reply, why] of [
      [`+OK {client} ${SERVER} ${ME6} ${GATEWAY6}`, /the server's tunnel address 2001:db8:1::1 is this host's gateway on c0/],
      [`+OK {client} ${SERVER} ${UPLINK6} ${HER6}`, /our tunnel address 2001:db8:1::2 covers 2001:db8:1::2, an address of this host/],
      [`+OK {client} ${SERVER} ${ME6} 2001:db8:1::99`, /overlaps 2001:db8:1::\/64, which this host routes on c0/],
    ] as const) {
      const { code, output, server } = await refusedBy({ plainPort: 20200, reply }, ["-t", "host", "-R", "2001:db8:ff::/64"]);
      assert.equal(code, 1, output);
      assert.match(output, why);
      await assertNothingConfigured(output);
      server.kill("SIGTERM");
      await server.exited;
    }
  });

  test("server text is printed with its control bytes escaped, and a flood of lines is logged a few a second", async () => {
    const forged = "-ERR \x1b]0;owned\x07\x1b[2K\r2026-12-07T00:00:00.000Z tunnel up: host fake";
    const { code, output, server } = await refusedBy({ plainPort: 20200, reply: forged }, ["-t", "host"]);
    assert.equal(code, 1, output);
    assert.doesNotMatch(output, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/, "no raw control byte reaches the terminal");
    assert.match(output, /-ERR \\x1b\]0;owned\\x07\\x1b\[2K\\x0d2026/);
    server.kill("SIGTERM");
    await server.exited;

    const flooding = await hostile({ plainPort: 20200, reply: HOST_REPLY, flood: { line: "+OK junk", count: 300_000 } });
    const client = dtcpc(["-t", "host"]);
    await client.waitFor(/tunnel up: /, 20_000);
    await flooding.waitFor(/"event":"flooded"/, 60_000);
    await new Promise((r) => setTimeout(r, 1_000));
    await stop(client);
    assert.ok(client.lines.length < 200, `${client.lines.length} lines for 300,000 from the server`);
    assert.match(client.output, /\d+ more line\(s\) from the server not logged/);
  });

  test("a challenge that is not 32 hex digits gets no response; a repeated one is warned about", async () => {
    const { code, output, server } = await refusedBy({ plainPort: 20200, greeting: "+OK 00 KAME tunnel server", reply: HOST_REPLY }, ["-t", "host"]);
    assert.equal(code, 1, output);
    assert.match(output, /the server's challenge is not 32 hex digits: "00"/);
    assert.deepEqual(events(server).filter((e) => e.event === "line"), [], "no response went out");
    server.kill("SIGTERM");
    await server.exited;

    const fixed = await hostile({ plainPort: 20200, greeting: `+OK ${"AB".repeat(16)} KAME tunnel server`, reply: "-ERR temporary failure, try again later" });
    const client = dtcpc(["-l", "-t", "host"]);
    await client.waitFor(/the server sent challenge ABAB\S+ again/, 20_000);
    await stop(client);
    fixed.kill("SIGTERM");
  });

  test("over --tcp, a frame longer than the TUN's MTU is dropped and counted, not written", async () => {
    await hostile({ plainPort: 20200, reply: `${HOST_REPLY} tcp=20202 token=${"0".repeat(32)}`, data: { port: 20202, frames: [65535, 1000, 1281] } });
    const client = dtcpc(["-t", "host", "--tcp"]);
    await client.waitFor(/tunnel up: host .* TCP to 10\.99\.0\.1 port 20202/, 20_000);
    await new Promise((r) => setTimeout(r, 500));
    await stop(client);
    assert.match(client.output, /dropped 2 packet\(s\) from the server longer than the tunnel's MTU of 1280/);
  });
});
