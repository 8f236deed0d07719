// dtcpc against the real daemon, each in its own network namespace joined by a veth pair:
//   broker ns: dtcps --no-dataplane -U on 10.77.0.1, and an echo peer standing in for the data plane
//   client ns: dtcpc on 10.77.0.2 (10.77.0.3 doubles as a NAT box's public address)

import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { Namespaces, skipUnlessRoot } from "../../test/support/namespaces.ts";
import { Child, dtcpctl as runDtcpctl, eventually, nodeIn } from "../../test/support/processes.ts";

const skip = skipUnlessRoot("needs root (CAP_NET_ADMIN, CAP_NET_RAW, ip netns)");

const PEER = fileURLToPath(new URL("../../test/support/netns-echo-peer.ts", import.meta.url));
const BROKER = "10.77.0.1";
const CLIENT = "10.77.0.2";
const NAT = "10.77.0.3";
const PASSWORD = "alice-Tunnel-pw-2";

type SessionRow = { id: number; user: string; type: string; transport: string; client: string; ended: string | null; reason: string | null };

describe("dtcpc against dtcps in network namespaces", { skip, timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "dtcpc-test-"));
  const env = { ...process.env, BROKER_DATA_DIR: dir, DATABASE_URL: `file:${join(dir, "broker.db")}` };
  const authFile = join(dir, "dtcpc.auth");
  const scriptLog = join(dir, "script.log");
  const script = join(dir, "script.sh");
  const pidFile = join(dir, "dtcpc.pid");
  const children: Child[] = [];
  const namespaces = new Namespaces();
  let brokerNs = "";
  let clientNs = "";
  let broker: Child;
  const ipIn = (ns: string, ...args: string[]) => namespaces.exec(ns, "ip", ...args);

  const inNs = (ns: string, args: string[]): Child => {
    const child = nodeIn(ns, args, env);
    children.push(child);
    return child;
  };
  const startBroker = async (): Promise<Child> => {
    const b = inNs(brokerNs, ["bin/dtcps.js", "--no-dataplane", "--listen", BROKER, "-U"]);
    await b.waitFor(/dtcps listening on/);
    return b;
  };
  const dtcpc = (...args: string[]) => inNs(clientNs, ["bin/dtcpc.js", "-d", "-u", "alice", "--auth-file", authFile, ...args, BROKER]);
  const peer = async (...args: string[]): Promise<Child> => {
    const p = inNs(brokerNs, ["--import", "tsx", PEER, ...args]);
    await p.waitFor(/"ready"/);
    return p;
  };
  const dtcpctl = (...args: string[]): string => runDtcpctl(env, args);
  const sessions = (): SessionRow[] => JSON.parse(dtcpctl("sessions", "--user", "alice", "--json")) as SessionRow[];
  const live = (): SessionRow[] => sessions().filter((s) => s.ended === null);
  const ping6 = (to: string) => namespaces.exec(clientNs, "ping", "-6", "-c", "1", "-W", "2", to);
  const linkExists = async (): Promise<boolean> => (await ipIn(clientNs, "link", "show").catch(() => "")).includes("dtcp0");
  // "host fd00:77::2 <-> fd00:77::1 on dtcp0, UDP to 10.77.0.1 port 4028"
  const tunnelUp = (client: Child, from = 0) => client.waitFor(/tunnel up: /, 15_000, from);

  before(async () => {
    brokerNs = await namespaces.add("cb");
    clientNs = await namespaces.add("cc");
    await namespaces.link(brokerNs, "vb", clientNs, "vc");
    await ipIn(brokerNs, "addr", "add", `${BROKER}/24`, "dev", "vb");
    await ipIn(clientNs, "addr", "add", `${CLIENT}/24`, "dev", "vc");
    dtcpctl("pool", "add", "fd00:77::/64", "--purpose", "link");
    dtcpctl("pool", "add", "fd00:7700::/40", "--purpose", "delegation", "--size", "48", "--auto");
    runDtcpctl(env, ["user", "add", "alice", "--tunnel-password-stdin"], `${PASSWORD}\n`);
    writeFileSync(authFile, `# test\n${BROKER}:alice:${PASSWORD}\n`);
    writeFileSync(script, `#!/bin/sh\necho "$@" >> ${scriptLog}\n`);
    chmodSync(script, 0o755);
    broker = await startBroker();
  });

  after(async () => {
    for (const child of children) child.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    await namespaces.removeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  test("host over UDP: TUN, address, routes, live session, packets both ways; SIGTERM tears it all down", async () => {
    const echo = await peer("udp", "4028");
    const client = dtcpc("-U", "-t", "host", "-f", pidFile, "-s", script);
    const up = await tunnelUp(client);
    const [, me6, her6] = /host (\S+) <-> (\S+) on dtcp0, UDP to 10\.77\.0\.1 port 4028$/.exec(up) ?? assert.fail(up);
    assert.equal(readFileSync(pidFile, "utf8"), `${client.pid}\n`, "`ip netns exec` execs, so the child is dtcpc itself");

    const link = await ipIn(clientNs, "link", "show", "dtcp0");
    assert.match(link, /mtu 1280 .*state UNKNOWN/);
    assert.match(await ipIn(clientNs, "-6", "addr", "show", "dev", "dtcp0"), new RegExp(`inet6 ${me6}/128 scope global`));
    const routes = await ipIn(clientNs, "-6", "route", "show", "dev", "dtcp0");
    assert.match(routes, new RegExp(`^${her6} metric 50 `, "m"));
    assert.match(routes, /^default metric 50 /m);

    const [session] = live();
    assert.deepEqual([session?.type, session?.transport, session?.client], ["host", "udp", `${CLIENT}:4028`]);

    await ping6(her6!);
    assert.match(echo.output, /\{"from":"10\.77\.0\.2","port":4028,"length":\d+,"echo":true\}/);
    assert.match(client.output, /> tunnel alice <response> host proto=udp port=4028/);
    assert.ok(!client.output.includes(PASSWORD), "the password is never logged");

    client.kill("SIGTERM");
    assert.equal(await client.exited, 0, client.output);
    assert.equal(await linkExists(), false, "the TUN is gone, and its routes with it");
    assert.equal(existsSync(pidFile), false, "the pidfile is removed");
    assert.equal(sessions().find((s) => s.id === session!.id)?.reason, "quit");
    assert.equal(
      readFileSync(scriptLog, "utf8"),
      [`up ${BROKER} ${CLIENT} host ${CLIENT} ${BROKER} ${me6} ${her6} - dtcp0`, `down ${BROKER} ${CLIENT} host ${CLIENT} ${BROKER} ${me6} ${her6} - dtcp0`, ""].join("\n"),
    );
    echo.kill();
    await echo.exited;
  });

  test("drops packets from the server's address but another port", async () => {
    const echo = await peer("udp", "4028", "4999");
    const client = dtcpc("-U", "-t", "host");
    const up = await tunnelUp(client);
    const her6 = /<-> (\S+) on/.exec(up)![1]!;
    await assert.rejects(ping6(her6), "the echo reply from port 4999 never reaches the TUN");
    assert.match(echo.output, /"echo":true/);
    client.kill("SIGTERM");
    assert.equal(await client.exited, 0);
    assert.match(client.output, /packets: \d+ to the server, 0 from it, [1-9]\d* from elsewhere dropped/);
    echo.kill();
    await echo.exited;
  });

  test("host over protocol 41: packets both ways", async () => {
    const echo = await peer("proto41");
    const client = dtcpc("-t", "host");
    const up = await tunnelUp(client);
    const [, her6] = /<-> (\S+) on dtcp0, protocol 41 to 10\.77\.0\.1$/.exec(up) ?? assert.fail(up);
    assert.equal(live()[0]?.transport, "proto41");
    await ping6(her6!);
    assert.match(echo.output, /\{"from":"10\.77\.0\.2","length":\d+,"echo":true\}/);
    client.kill("SIGINT");
    assert.equal(await client.exited, 0);
    echo.kill();
    await echo.exited;
  });

  test("behind a NAT: refused without -n; with -U -n, NAT traversal with keepalives, SIGHUP and -l reconnect", async () => {
    await ipIn(clientNs, "addr", "add", `${NAT}/24`, "dev", "vc");
    await namespaces.exec(clientNs, "nft", `add table ip nat
      add chain ip nat post { type nat hook postrouting priority 100 ; }
      add rule ip nat post ip daddr ${BROKER} snat to ${NAT}`);

    const refused = dtcpc("-U", "-t", "network");
    assert.equal(await refused.exited, 1);
    assert.match(refused.output, /^\S+Z dtcpc: you are behind a NAT box \(the server sees 10\.77\.0\.3, this host is 10\.77\.0\.2\); use -n$/m);
    assert.equal(await linkExists(), false);

    const echo = await peer("udp", "4028");
    const client = dtcpc("-Unl", "-t", "network", "--keepalive", "1", "-A", "fd00:99::1", "-R", "fd00:98::/48");
    const up = await tunnelUp(client);
    assert.match(up, /network prefix fd00:7700::\/48 on dtcp0, UDP to 10\.77\.0\.1 port 4028$/);
    assert.match(client.output, /> tunnel alice <response> network proto=udp$/m);
    const keepalives = await eventually("two keepalives", async () => {
      const empty = echo.lines.filter((l) => l.includes('"length":0'));
      return empty.length >= 2 && empty;
    });
    const natPort = (JSON.parse(keepalives[0]!) as { from: string; port: number });
    assert.equal(natPort.from, NAT, "keepalives come through the NAT");
    const [first] = live();
    assert.deepEqual([first?.type, first?.client], ["network", NAT], "no port= in NAT traversal");
    assert.match(await ipIn(clientNs, "-6", "addr", "show", "dev", "dtcp0"), /inet6 fd00:99::1\/128/);
    assert.equal((await ipIn(clientNs, "-6", "route", "show", "dev", "dtcp0")).match(/^fd00:98::\/48 metric 50 /m)?.length, 1);
    assert.doesNotMatch(await ipIn(clientNs, "-6", "route", "show"), /^default/m, "-R replaces the default route");
    await ping6("fd00:98::1"); // the echo peer answers the NAT's address and port, as the server does

    const mark = client.lines.length;
    client.kill("SIGHUP");
    await tunnelUp(client, mark);
    const second = await eventually("a new live session", async () => live().find((s) => s.id !== first!.id));
    assert.equal(sessions().find((s) => s.id === first!.id)?.reason, "quit");

    const beforeRestart = client.lines.length;
    broker.kill("SIGTERM");
    assert.equal(await broker.exited, 0);
    await client.waitFor(/reconnecting in/, 10_000, beforeRestart);
    broker = await startBroker();
    await tunnelUp(client, beforeRestart);
    const third = await eventually("a session after the restart", async () => live()[0], 20_000);
    assert.notEqual(third.id, second.id);
    assert.equal(sessions().find((s) => s.id === second.id)?.reason, "shutdown");

    client.kill("SIGTERM");
    assert.equal(await client.exited, 0, client.output);
    assert.equal(await linkExists(), false);
    await eventually("the session to end", async () => live().length === 0);
    echo.kill();
    await echo.exited;
  });
});
