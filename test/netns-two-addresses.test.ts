// A broker host with two IPv4 addresses, whose routing table would answer the client from the
// other one: tunnel packets (UDP and protocol 41) must still leave from the address the client
// reached, or the client drops them. The same running daemon then learns of pools added and removed meanwhile.
//
//   broker 100.65.0.1/24 and 100.65.1.1/24 on b0 — client 100.65.0.2/24 on c0
//   the broker's route to the client prefers the source 100.65.1.1
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { Namespaces, run, skipUnlessRoot } from "./support/namespaces.ts";
import { Child, dtcpctl, nodeIn } from "./support/processes.ts";
import { tempDataDir } from "./support/broker.ts";

const skip = skipUnlessRoot("needs root (ip netns, TUN)");
const REACHED = "100.65.0.1";
const OTHER = "100.65.1.1";
const CLIENT = "100.65.0.2";

describe("a broker with two addresses answers tunnels from the one each client reached", { skip, timeout: 120_000 }, () => {
  let data: ReturnType<typeof tempDataDir> | null = null;
  const namespaces = new Namespaces();
  const children: Child[] = [];
  let broker = "";
  let client = "";

  before(async () => {
    data = tempDataDir();
    ({ broker, client } = await namespaces.pair("2a", "2c"));
    await namespaces.exec(broker, "ip", "addr", "add", `${REACHED}/24`, "dev", "b0");
    await namespaces.exec(broker, "ip", "addr", "add", `${OTHER}/24`, "dev", "b0");
    await namespaces.exec(broker, "ip", "route", "replace", "100.65.0.0/24", "dev", "b0", "src", OTHER);
    await namespaces.exec(client, "ip", "addr", "add", `${CLIENT}/24`, "dev", "c0");
    await namespaces.exec(client, "ip", "route", "add", "100.65.1.0/24", "dev", "c0");
    dtcpctl(data.env, ["pool", "add", "2001:db8:fff0::/64", "--purpose", "link"]);
    dtcpctl(data.env, ["user", "add", "dora", "--tunnel-password-stdin"], "dora-Tunnel-pw-1\n");
    writeFileSync(join(data.dir, "dtcpc.auth"), `${REACHED}:dora:dora-Tunnel-pw-1\n`);
  });
  after(async () => {
    for (const c of children) c.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    await namespaces.removeAll();
    data?.cleanup();
  });

  /** dtcpc with a host tunnel to the reached address. */
  const hostTunnel = (...args: string[]): Child => {
    const dtcpc = nodeIn(client, ["bin/dtcpc.js", "-d", ...args, "-t", "host", "-u", "dora", "--auth-file", join(data!.dir, "dtcpc.auth"), REACHED], data!.env);
    children.push(dtcpc);
    return dtcpc;
  };
  /** Once the tunnel is up: three pings to the server's tunnel address, all answered. */
  const pingsThrough = async (dtcpc: Child): Promise<void> => {
    const up = await dtcpc.waitFor(/tunnel up: /, 30_000);
    const [, , server6] = /host (\S+) <-> (\S+) on/.exec(up) ?? assert.fail(up);
    const ping = await run("ip", ["netns", "exec", client, "ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", server6!], { timeout: 30_000 }).then(
      (r) => r.stdout,
      (err: { stdout?: string }) => err.stdout ?? "",
    );
    assert.match(ping, /3 packets transmitted, 3 received/, `${ping}\n${dtcpc.lines.join("\n")}`);
  };

  test("UDP: the client reaching one address gets its packets back from it, not from the routing table's choice", async () => {
    const dtcps = nodeIn(broker, ["bin/dtcps.js", "-U", "--tun-name", "dtcp2a"], data!.env);
    children.push(dtcps);
    await dtcps.waitFor(/dtcps listening on 0\.0\.0\.0/, 30_000);
    const dtcpc = hostTunnel("-U");
    await pingsThrough(dtcpc);
    assert.match(dtcps.output, /packet thread: the packets of several sessions go out together/);
    const sockets = await namespaces.exec(broker, "ss", "-Hun", "state", "all", "sport", "ge", ":4028");
    assert.match(sockets, new RegExp(`${REACHED.replace(/\./g, "\\.")}:4028`), `the session's socket is bound to the reached address:\n${sockets}`);
    dtcpc.kill("SIGTERM");
    await dtcpc.exited;
  });

  test("protocol 41: the client gets its packets back from the reached address, not from the routing table's choice", async () => {
    const dtcpc = hostTunnel();
    await pingsThrough(dtcpc);
    assert.doesNotMatch(dtcpc.lines.join("\n"), /dropped .* from /, "no packet came from the other address");
    dtcpc.kill("SIGTERM");
    await dtcpc.exited;
  });

  test("--no-send-together: each session's packets go out on their own, from the reached address still", async () => {
    const earlier = children.splice(0);
    for (const c of earlier) c.kill("SIGTERM");
    await Promise.all(earlier.map((c) => c.exited));
    const dtcps = nodeIn(broker, ["bin/dtcps.js", "-U", "--tun-name", "dtcp2a", "--no-send-together"], data!.env);
    children.push(dtcps);
    await dtcps.waitFor(/dtcps listening on 0\.0\.0\.0/, 30_000);
    assert.match(dtcps.output, /packet thread: each session's packets go out in system calls of their own \(--no-send-together\)/);
    const dtcpc = hostTunnel("-U");
    await pingsThrough(dtcpc);
    dtcpc.kill("SIGTERM");
    await dtcpc.exited;
  });

  test("a pool added while the daemon runs is routed to its TUN within seconds, and unrouted when removed", async () => {
    const routes = () => namespaces.exec(broker, "ip", "-6", "route", "show", "dev", "dtcp2a");
    const until = async (what: string, pred: (text: string) => boolean) => {
      const deadline = Date.now() + 5_000;
      for (let text = await routes(); !pred(text); text = await routes()) {
        if (Date.now() > deadline) assert.fail(`${what}:\n${text}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    dtcpctl(data!.env, ["pool", "add", "2001:db8:e100::/40", "--purpose", "delegation", "--size", "48"]);
    await until("the new pool is routed", (text) => text.includes("2001:db8:e100::/40"));
    dtcpctl(data!.env, ["pool", "remove", "2001:db8:e100::/40"]);
    await until("the removed pool is no longer routed", (text) => !text.includes("2001:db8:e100::/40"));
  });
});
