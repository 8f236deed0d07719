// Two POPs on one PostgreSQL server, each daemon in a network namespace of its own, with the real
// dtcps, dtcpc and dtcpctl:
//
//   ca (alice) ── 10.71.1.0/24 ── pa: POP "default"  ── 10.71.4.0/24 ── cc (carol)
//        └─────── 10.71.2.0/24 ── pb: POP "west"     ── 10.71.3.0/24 ── cb (bob)
//
// The database is reached through the server's Unix socket, which every namespace shares. West's
// data directory holds nothing but copies of the sealing key and the API key. alice's client
// connects to the name pop.test, which /etc/netns/<ca>/hosts points at one POP or the other, as an
// operator's DNS would.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { loadOrCreateApiKey } from "../server/api/token.ts";
import { resolvePaths } from "../server/config.ts";
import { Namespaces, run, skipUnlessRoot } from "./support/namespaces.ts";
import { Child, dtcpctl, nodeIn } from "./support/processes.ts";
import { tempDataDir } from "./support/broker.ts";
import { skipUnlessPostgres, startPostgres, type PostgresServer } from "./support/postgres.ts";

const skip = skipUnlessRoot("needs root (ip netns, TUN, raw sockets)") || skipUnlessPostgres();
const PASSWORDS = { alice: "alice-Tunnel-pw-1", bob: "bob-Tunnel-pw-22", carol: "carol-Tunnel-pw-3" };

interface SessionRow {
  id: number;
  user: string;
  pop: string | null;
  ended: string | null;
  reason: string | null;
}

describe("two POPs on one PostgreSQL server, in network namespaces", { skip, timeout: 240_000 }, () => {
  const namespaces = new Namespaces();
  const ns = { pa: "", pb: "", ca: "", cb: "", cc: "" };
  const children: Child[] = [];
  let postgres: PostgresServer | null = null;
  let home: ReturnType<typeof tempDataDir> | null = null;
  let westDir = "";
  let westEnv: NodeJS.ProcessEnv = {};
  let hostsDir = "";
  const daemons = {} as Record<"default" | "west", Child>;
  const clients = {} as Record<"alice" | "bob" | "carol", Child>;

  const pointPopTestAt = (address: string) => writeFileSync(join(hostsDir, "hosts"), `127.0.0.1 localhost\n${address} pop.test\n`);
  const sessions = (user: string): SessionRow[] => JSON.parse(dtcpctl(home!.env, ["sessions", "--user", user, "--json"])) as SessionRow[];
  const ping6 = (from: string, to: string) =>
    run("ip", ["netns", "exec", from, "ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", to], { timeout: 30_000 }).then(
      (r) => r.stdout,
      (err: { stdout?: string }) => err.stdout ?? "",
    );
  /** The addresses of a "tunnel up" line of dtcpc -t host. */
  const hostAddresses = (line: string) => {
    const [, client6, server6] = /host (\S+) <-> (\S+) on/.exec(line) ?? assert.fail(line);
    return { client6: client6!, server6: server6! };
  };
  const client = (user: keyof typeof clients, where: string, server: string, loop = true) => {
    const authFile = join(home!.dir, `${user}.auth`);
    writeFileSync(authFile, `${server}:${user}:${PASSWORDS[user]}\n`, { mode: 0o600 });
    const child = nodeIn(where, ["bin/dtcpc.js", "-d", ...(loop ? ["-l"] : []), "-t", "host", "-u", user, "--auth-file", authFile, server], home!.env);
    children.push(child);
    return child;
  };

  before(async () => {
    postgres = await startPostgres();
    await postgres.database("pops");
    home = tempDataDir();
    home.env.DATABASE_URL = postgres.socketUrl("pops");
    for (const [key, short] of [["pa", "popa"], ["pb", "popb"], ["ca", "ca"], ["cb", "cb"], ["cc", "cc"]] as const) ns[key] = await namespaces.add(short);
    for (const name of Object.values(ns)) await namespaces.exec(name, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0");
    const links: [string, string, string, string, string][] = [
      [ns.pa, "pa0", ns.ca, "ca1", "10.71.1"],
      [ns.pb, "pb0", ns.ca, "ca2", "10.71.2"],
      [ns.pb, "pb1", ns.cb, "cb0", "10.71.3"],
      [ns.pa, "pa1", ns.cc, "cc0", "10.71.4"],
    ];
    for (const [a, aIf, b, bIf, net] of links) {
      await namespaces.link(a, aIf, b, bIf);
      await namespaces.exec(a, "ip", "addr", "add", `${net}.1/24`, "dev", aIf);
      await namespaces.exec(b, "ip", "addr", "add", `${net}.2/24`, "dev", bIf);
    }
    hostsDir = join("/etc/netns", ns.ca);
    mkdirSync(hostsDir, { recursive: true });
    pointPopTestAt("10.71.1.1");

    dtcpctl(home.env, ["pop", "add", "west", "--address", "10.71.2.1"]);
    dtcpctl(home.env, ["pool", "add", "2001:db8:a1::/64", "--purpose", "link", "--pop", "default"]);
    dtcpctl(home.env, ["pool", "add", "2001:db8:b1::/64", "--purpose", "link", "--pop", "west"]);
    dtcpctl(home.env, ["user", "add", "alice", "--pop", "default", "--tunnel-password-stdin"], `${PASSWORDS.alice}\n`);
    dtcpctl(home.env, ["user", "add", "bob", "--pop", "west", "--tunnel-password-stdin"], `${PASSWORDS.bob}\n`);
    dtcpctl(home.env, ["user", "add", "carol", "--pop", "default", "--tunnel-password-stdin"], `${PASSWORDS.carol}\n`);

    // West gets copies of the two keys and nothing else.
    const paths = resolvePaths(home.env);
    loadOrCreateApiKey(paths.apiKeyFile);
    westDir = mkdtempSync(join(tmpdir(), "dtcp-west-"));
    copyFileSync(paths.secretKeyFile, join(westDir, "secret.key"));
    copyFileSync(paths.apiKeyFile, join(westDir, "api.key"));
    westEnv = { ...home.env, BROKER_DATA_DIR: westDir };

    daemons.default = nodeIn(ns.pa, ["bin/dtcps.js", "--pop-lost-after", "3", "--api-listen", "20201", "--tun-name", "popa"], home.env);
    daemons.west = nodeIn(ns.pb, ["bin/dtcps.js", "--pop", "west", "--pop-lost-after", "3", "--api-listen", "20201", "--tun-name", "popb"], westEnv);
    children.push(daemons.default, daemons.west);
    await daemons.default.waitFor(/dtcps listening on/, 30_000);
    await daemons.west.waitFor(/dtcps \(POP west\) listening on/, 30_000);
  });
  after(async () => {
    for (const c of children) c.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    await namespaces.removeAll();
    if (hostsDir) rmSync(hostsDir, { recursive: true, force: true });
    if (westDir) rmSync(westDir, { recursive: true, force: true });
    home?.cleanup();
    postgres?.stop();
  });

  test("users homed on each POP log in with dtcpc and carry IPv6 through their own POP", async () => {
    clients.alice = client("alice", ns.ca, "pop.test");
    clients.bob = client("bob", ns.cb, "10.71.3.1");
    const alice = hostAddresses(await clients.alice.waitFor(/tunnel up: /, 30_000));
    const bob = hostAddresses(await clients.bob.waitFor(/tunnel up: /, 30_000));
    assert.match(alice.client6, /^2001:db8:a1::/, "alice's pair comes from the default POP's pool");
    assert.match(bob.client6, /^2001:db8:b1::/, "bob's from west's, unsealed with west's copy of the key");
    assert.match(await ping6(ns.ca, alice.server6), /3 packets transmitted, 3 received/, clients.alice.output);
    assert.match(await ping6(ns.cb, bob.server6), /3 packets transmitted, 3 received/, clients.bob.output);
    assert.deepEqual(
      [...sessions("alice"), ...sessions("bob")].map((s) => [s.user, s.pop, s.ended]),
      [
        ["alice", "default", null],
        ["bob", "west", null],
      ],
    );
  });

  test("a login at the wrong POP is refused", async () => {
    const stray = client("bob", ns.ca, "10.71.1.1", false);
    assert.notEqual(await stray.exited, 0);
    assert.match(stray.output, /authentication failed/);
    assert.match(daemons.default.output, /login refused for "bob" from 10\.71\.1\.2: served by another POP/);
  });

  test("moving a live user ends their session on the old POP at once; their -l loop, pointed at the new POP, gets its prefix there", async () => {
    const before = clients.alice.lines.length;
    pointPopTestAt("10.71.2.1");
    dtcpctl(home!.env, ["user", "set", "alice", "--pop", "west"]);
    // From the moment the move is committed (dtcpctl has exited), not from dtcpctl's own start-up.
    const moved = Date.now();
    await clients.alice.waitFor(/account moved to another server/, 5_000, before);
    assert.ok(Date.now() - moved < 2_000, `ended ${Date.now() - moved} ms after the move`);
    const alice = hostAddresses(await clients.alice.waitFor(/tunnel up: /, 30_000, before));
    assert.match(alice.client6, /^2001:db8:b1::/, "a pair of west's pool now");
    assert.match(await ping6(ns.ca, alice.server6), /3 packets transmitted, 3 received/, clients.alice.output);
    const rows = sessions("alice");
    assert.deepEqual(
      rows.map((s) => [s.pop, s.reason]),
      [
        ["west", null],
        ["default", "moved"],
      ],
    );
  });

  test("killing one POP's daemon ends its sessions (pop-lost); the other POP's go on", async () => {
    clients.carol = client("carol", ns.cc, "10.71.4.1");
    await clients.carol.waitFor(/tunnel up: /, 30_000);
    daemons.default.kill("SIGKILL");
    await daemons.default.exited;
    const deadline = Date.now() + 15_000;
    while (sessions("carol")[0]?.reason !== "pop-lost" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    assert.equal(sessions("carol")[0]?.reason, "pop-lost", "west ended the dead POP's session");
    for (const user of ["alice", "bob"]) assert.equal(sessions(user)[0]?.ended, null, `${user}'s session on west goes on`);
    const bob = hostAddresses(clients.bob.lines.find((l) => /tunnel up: /.test(l))!);
    assert.match(await ping6(ns.cb, bob.server6), /3 packets transmitted, 3 received/);
  });
});
