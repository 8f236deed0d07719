import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { tempDataDir } from "./support/broker.ts";
import { DtcpClient } from "./support/dtcp-client.ts";
import { skipUnlessRoot } from "./support/namespaces.ts";

const root = new URL("..", import.meta.url).pathname;

function dtcpctl(env: NodeJS.ProcessEnv, args: string[], input?: string) {
  const r = spawnSync(process.execPath, ["bin/dtcpctl.js", ...args], { cwd: root, env, input, encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("dtcpctl", () => {
  const data = tempDataDir();
  after(() => data.cleanup());
  const run = (args: string[], input?: string) => dtcpctl(data.env, args, input);

  test("user add generates a strong DTCP password and prints it once", () => {
    const r = run(["user", "add", "alice", "--admin"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^created admin alice\nDTCP password \(shown once\): [A-Za-z2-9]{20}\n$/);
    const list = run(["user", "list", "--json"]);
    const users = JSON.parse(list.out) as { name: string; role: string }[];
    assert.deepEqual(users.map((u) => [u.name, u.role]), [["alice", "admin"]]);
    assert.ok(!list.out.includes("password"), "listings carry no secret");
  });

  test("--tunnel-password-stdin takes the password from a pipe", () => {
    const r = run(["user", "add", "bob", "--types", "tunnelonly,host", "--tunnel-password-stdin"], "bobs-password\n");
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "created user bob\n");
  });

  test("user set changes what was given and keeps the rest; audited with before and after", () => {
    const r = run(["user", "set", "bob", "--transports", "udp", "--mtu", "1400", "--email", "bob@example.org"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^bob: types tunnelonly,host, transports udp, MTU 1400, bob@example\.org /);
    const bob = JSON.parse(run(["user", "show", "bob", "--json"]).out) as { allowedTypes: string[]; allowedTransports: string[]; mtu: number; email: string };
    assert.deepEqual([bob.allowedTypes, bob.allowedTransports, bob.mtu, bob.email], [["tunnelonly", "host"], ["udp"], 1400, "bob@example.org"]);
    assert.equal(run(["user", "set", "bob", "--email", ""]).code, 0);
    const [entry] = JSON.parse(run(["audit", "--action", "user.update", "--json"]).out) as { before: string; after: string }[];
    assert.match(entry!.before, /"mtu":1400/);
    assert.match(entry!.after, /"email":null/);
  });

  test("bad arguments: one line on stderr, exit 2, nothing written", () => {
    const before = run(["audit", "--json"]).out;
    const cases: string[][] = [
      ["user", "add", "Alice Smith"],
      ["user", "add", "alice"],
      ["user", "add", "carol", "--types", "tunnelonly,ipip"],
      ["user", "add", "carol", "--mtu", "9000"],
      ["user", "add", "carol", "--bogus"],
      ["user", "set", "bob"],
      ["user", "set", "bob", "--mtu", "1500"],
      ["user", "set", "bob", "--transports", ""],
      ["user", "set", "bob", "--email", "not-an-address"],
      ["user", "set", "nobody", "--mtu", "1400"],
      ["pool", "add", "2001:db8::1/64", "--purpose", "delegation"],
      ["pool", "add", "2001:db8::/32", "--purpose", "transit"],
      ["pool", "add", "2001:db8::/32"],
      ["delegate", "nobody"],
      ["frobnicate"],
    ];
    for (const args of cases) {
      const r = run(args);
      assert.equal(r.code, 2, `${args.join(" ")} → ${r.err}`);
      assert.equal(r.out, "");
      // One line naming the problem; an unknown command is followed by the usage.
      assert.match(r.err, args[0] === "frobnicate" ? /^dtcpctl: unknown command "frobnicate"\nusage: dtcpctl / : /^dtcpctl: [^\n]+\n$/, r.err);
    }
    assert.equal(run(["pool", "add", "2001:db8::1/64", "--purpose", "delegation"]).err, "dtcpctl: 2001:db8::1/64 has host bits set; did you mean 2001:db8::/64?\n");
    assert.equal(run(["audit", "--json"]).out, before, "no audit entry, so no change");
    assert.equal(JSON.parse(run(["user", "list", "--json"]).out).length, 2);
  });

  test("pools, delegations and overlaps", () => {
    assert.equal(run(["pool", "add", "2001:db8:100::/40", "--purpose", "delegation", "--size", "48"]).code, 0);
    const overlap = run(["pool", "add", "2001:db8:180::/44", "--purpose", "link"]);
    assert.equal(overlap.code, 2);
    assert.equal(overlap.err, "dtcpctl: 2001:db8:180::/44 overlaps the existing pool 2001:db8:100::/40\n");
    assert.equal(run(["delegate", "alice"]).out, "2001:db8:100::/48 delegated to alice\n");
    assert.equal(run(["delegate", "bob", "--pool", "2001:db8:100::/40"]).out, "2001:db8:101::/48 delegated to bob\n");
    const pools = JSON.parse(run(["pool", "list", "--json"]).out) as { used: string }[];
    assert.equal(pools[0]?.used, "2/256");
    assert.equal(run(["pool", "remove", "2001:db8:100::/40"]).code, 2);
    assert.equal(run(["undelegate", "alice", "2001:db8:100::/48"]).code, 0);
    assert.equal(run(["delegate", "bob"]).out, "2001:db8:100::/48 delegated to bob\n", "the freed prefix is reused");
  });

  test("disable, rotate, remove are audited without secrets", () => {
    assert.equal(run(["user", "disable", "bob"]).out, "bob disabled\n");
    const rotated = run(["tunnel-password", "rotate", "bob"]);
    const password = /: (\S+)\n$/.exec(rotated.out)?.[1] ?? "";
    assert.equal(password.length, 20);
    assert.equal(run(["user", "remove", "bob"]).out, "removed bob\n");
    const audit = run(["audit", "--json"]).out;
    for (const action of ["user.create", "user.disable", "user.tunnel-password.rotate", "user.remove", "pool.add", "delegation.create"]) {
      assert.ok(audit.includes(`"${action}"`), action);
    }
    assert.ok(!audit.includes(password) && !audit.includes("bobs-password"));
    assert.equal(run(["user", "show", "bob"]).err, "dtcpctl: no user named bob\n");
  });
});

describe("dtcps process", () => {
  const data = tempDataDir();
  after(() => data.cleanup());
  let password = "";
  before(() => {
    password = /: (\S+)\n$/.exec(dtcpctl(data.env, ["user", "add", "eve"]).out)?.[1] ?? "";
  });

  const startDtcps = async (port: number) => {
    const child = spawn(process.execPath, ["bin/dtcps.js", "--no-dataplane", "--listen", "127.0.0.1", "-p", String(port), "2001:db8:ff::/64"], {
      cwd: root,
      env: data.env,
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const until = Date.now() + 15_000;
    while (!out.includes("dtcps listening")) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`dtcps did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { child, output: () => out };
  };

  // Root drops a capability from its bounding set, so the daemon runs as root without it.
  for (const [capability, dropped] of [["CAP_NET_ADMIN", "-net_admin"], ["CAP_NET_RAW", "-net_raw"]] as const) {
    test(`without ${capability} the daemon names it and exits 1 unless --no-dataplane`, { skip: skipUnlessRoot("needs root to drop one capability") }, () => {
      const r = spawnSync("setpriv", ["--bounding-set", dropped, "--", process.execPath, "bin/dtcps.js", "--tun-name", "dtcpcap0", "--listen", "127.0.0.1", "-p", "0"], {
        cwd: root,
        env: data.env,
        encoding: "utf8",
      });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^\\S+Z dtcps: data plane: .*\\(${capability} required\\); run dtcps as root or with CAP_NET_ADMIN and CAP_NET_RAW .*--no-dataplane`, "m"));
    });
  }

  test("after a kill -9, a restarted daemon marks the orphaned session ended; SIGTERM ends cleanly", async () => {
    const port = 20000 + Math.floor(Math.random() * 10000);
    const first = await startDtcps(port);
    assert.match(first.output(), /data plane: none/);
    assert.match(first.output(), /added link pool 2001:db8:ff::\/64/);
    const c = await DtcpClient.connect(port);
    assert.match((await c.tunnel("eve", password, "host")) ?? "", /^\+OK 127\.0\.0\.1 127\.0\.0\.1 2001:db8:ff::2 2001:db8:ff::1$/);
    // Listening before the kill: the exit may come while the client's close is awaited.
    const firstExit = new Promise((r) => first.child.once("exit", r));
    first.child.kill("SIGKILL");
    await c.waitClosed();
    await firstExit;

    const second = await startDtcps(port);
    assert.match(second.output(), /marked 1 sessions left open by the previous run as ended/);
    const rows = JSON.parse(dtcpctl(data.env, ["sessions", "--json"]).out) as { reason: string | null }[];
    assert.deepEqual(rows.map((r) => r.reason), ["pop-lost"]);
    const d = await DtcpClient.connect(port, "python");
    assert.match((await d.tunnel("eve", password, "host")) ?? "", /^\+OK /);
    second.child.kill("SIGTERM");
    const code = await new Promise((r) => second.child.once("exit", r));
    assert.equal(code, 0);
    assert.equal(await d.readLine(), "-ERR server shutting down");
    const after = JSON.parse(dtcpctl(data.env, ["sessions", "--json"]).out) as { reason: string | null }[];
    assert.deepEqual(after.map((r) => r.reason), ["shutdown", "pop-lost"]);
  });
});
