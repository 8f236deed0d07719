// Offloads end to end: a bulk TCP transfer both ways through our dtcps and dtcpc, whose TUNs hand
// over and take 64 KB super-packets (split into segments on reading, joined on writing) and whose UDP
// sockets send runs of datagrams segmented (UDP_SEGMENT). What a user
// relies on: every byte arrives intact, the session's counters count it all, and the same holds with
// --no-offload and when the kernel refuses the offloads (the daemon and client then fall back).
//
//   broker 10.96.0.1 on b0 — client 10.96.0.2 on c0; the transfer runs between the client's tunnel
//   address and the broker's, so each TUN's local TCP makes super-packets in one direction and
//   takes joined ones in the other.
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { Namespaces, skipUnlessRoot } from "./support/namespaces.ts";
import { Child, dtcpctl, eventually, nodeIn } from "./support/processes.ts";
import { tempDataDir } from "./support/broker.ts";
import { parseExposition, total, type Sample } from "./support/prometheus.ts";

const skip = skipUnlessRoot("needs root (ip netns, TUN)");
const BROKER = "10.96.0.1";
const CLIENT = "10.96.0.2";
const METRICS_PORT = 9118;
const BYTES = 24 * 1024 * 1024;

describe("TUN offloads: bulk TCP through dtcps and dtcpc", { skip, timeout: 240_000 }, () => {
  let data: ReturnType<typeof tempDataDir> | null = null;
  const namespaces = new Namespaces();
  const children: Child[] = [];
  let broker = "";
  let client = "";

  before(async () => {
    data = tempDataDir();
    ({ broker, client } = await namespaces.pair("ob", "oc"));
    await namespaces.exec(broker, "ip", "addr", "add", `${BROKER}/24`, "dev", "b0");
    await namespaces.exec(client, "ip", "addr", "add", `${CLIENT}/24`, "dev", "c0");
    dtcpctl(data.env, ["pool", "add", "2001:db8:fff1::/64", "--purpose", "link"]);
    dtcpctl(data.env, ["user", "add", "olga", "--tunnel-password-stdin", "--transports", "proto41,udp,tcp"], "olga-Tunnel-pw-1\n");
    writeFileSync(join(data.dir, "dtcpc.auth"), `${BROKER}:olga:olga-Tunnel-pw-1\n`);
  });
  after(async () => {
    for (const c of children) c.kill("SIGKILL");
    await Promise.all(children.map((c) => c.exited));
    await namespaces.removeAll();
    data?.cleanup();
  });

  const metrics = async (): Promise<Sample[]> =>
    parseExposition(
      await namespaces.exec(broker, process.execPath, "-e", `fetch("http://127.0.0.1:${METRICS_PORT}/metrics").then((r) => r.text()).then((t) => process.stdout.write(t))`),
    );

  /**
   * A daemon and a client with these extra arguments (and environment), a transfer of BYTES each
   * way between their tunnel addresses; returns both processes' output, the final metrics and the
   * client's last debug lines, once both have stopped.
   */
  const transfer = async (how: { transport: "udp" | "proto41" | "tcp"; args?: string[]; env?: NodeJS.ProcessEnv }) => {
    const env = { ...data!.env, ...how.env };
    const extra = how.args ?? [];
    const dtcps = nodeIn(broker, ["bin/dtcps.js", "-U", "--tun-name", "dtcpo0", "--metrics", `127.0.0.1:${METRICS_PORT}`, "--tcp-tunnels", "20201", ...extra], env);
    children.push(dtcps);
    await dtcps.waitFor(/dtcps listening on/, 30_000);
    const transport = how.transport === "udp" ? ["-U"] : how.transport === "tcp" ? ["--tcp"] : [];
    const dtcpc = nodeIn(client, ["bin/dtcpc.js", "-d", ...transport, ...extra, "-t", "host", "-u", "olga", "--auth-file", join(data!.dir, "dtcpc.auth"), BROKER], env);
    children.push(dtcpc);
    const up = await dtcpc.waitFor(/tunnel up: /, 30_000);
    const [, client6, server6] = /host (\S+) <-> (\S+) on/.exec(up) ?? assert.fail(up);
    const serve = nodeIn(broker, ["--import", "tsx", "test/support/tcp-bulk.ts", "serve", server6!, "5001", String(BYTES)], env);
    children.push(serve);
    await serve.waitFor(/ready/, 30_000);
    const send = nodeIn(client, ["--import", "tsx", "test/support/tcp-bulk.ts", "send", server6!, "5001", String(BYTES)], env);
    children.push(send);
    assert.equal(await send.exited, 0, send.lines.join("\n"));
    await serve.exited;
    const sent = /^sent (\d+) (\w+)$/.exec(send.lines.find((l) => l.startsWith("sent")) ?? "") ?? assert.fail(send.lines.join("\n"));
    const upstream = serve.lines.find((l) => l.startsWith("received")) ?? "";
    assert.equal(upstream, `received ${sent[1]} ${sent[2]}`, "every byte from the client reached the broker intact");
    const downstream = send.lines.find((l) => l.startsWith("received")) ?? "";
    assert.equal(downstream, `received ${BYTES} ${sent[2]}`, "every byte from the broker reached the client intact (the same pattern)");
    // The session's counters reach /metrics within a second; they count every packet, payload and headers.
    const m = await eventually("the session's bytes counted both ways", async () => {
      const samples = await metrics();
      const inBytes = total(samples, "dtcp_session_bytes_total", { user: "olga", direction: "in" });
      const outBytes = total(samples, "dtcp_session_bytes_total", { user: "olga", direction: "out" });
      return inBytes > BYTES && outBytes > BYTES ? samples : undefined;
    });
    dtcpc.kill("SIGTERM");
    await dtcpc.exited;
    dtcps.kill("SIGTERM");
    await dtcps.exited;
    return { dtcps: dtcps.lines.join("\n"), dtcpc: dtcpc.lines.join("\n"), metrics: m, client6: client6! };
  };

  const superPackets = (m: Sample[], direction: "read" | "write") => total(m, "dtcp_dataplane_tun_super_packets_total", { direction });
  const clientOffloads = (log: string) => {
    const [, read, split, written, joined] = /TUN offloads: (\d+) super-packets read \((\d+) packets split from them\), (\d+) written \((\d+) packets joined into them\)/.exec(log) ?? assert.fail(log);
    return { read: Number(read), split: Number(split), written: Number(written), joined: Number(joined) };
  };

  const clientCoalesced = (log: string) => {
    const [, reads, datagrams] = /UDP receive offload: (\d+) reads carried several datagrams \((\d+) in all\)/.exec(log) ?? assert.fail(log);
    return { reads: Number(reads), datagrams: Number(datagrams) };
  };

  for (const transport of ["udp", "proto41", "tcp"] as const) {
    test(`${transport}: super-packets are split and joined at both ends, and every byte arrives and is counted`, async () => {
      const run = await transfer({ transport });
      assert.match(run.dtcps, /TUN dtcpo0: offloads on/);
      assert.match(run.dtcpc, /TUN \S+: offloads on/);
      if (transport === "udp") {
        const segmented = /UDP: runs of datagrams to one peer go to the kernel as one segmented send \(UDP_SEGMENT\)/;
        assert.match(run.dtcps, segmented);
        assert.match(run.dtcpc, segmented);
        // The client's segmented sends reach the broker's shared socket coalesced, and are split there.
        assert.match(run.dtcps, /UDP: the shared sockets take a run of one peer's datagrams in one read \(UDP_GRO\)/);
        const reads = total(run.metrics, "dtcp_dataplane_udp_coalesced_total", { what: "reads" });
        const datagrams = total(run.metrics, "dtcp_dataplane_udp_coalesced_total", { what: "datagrams" });
        assert.ok(reads > 0 && datagrams > 2 * reads, `coalesced reads ${reads}, datagrams ${datagrams}`);
        // And the broker's segmented sends reach the client's socket coalesced.
        assert.match(run.dtcpc, /UDP: runs of the server's datagrams come in as one read \(UDP_GRO\)/);
        const cc = clientCoalesced(run.dtcpc);
        assert.ok(cc.reads > 0 && cc.datagrams > 2 * cc.reads, `the client's coalesced reads: ${JSON.stringify(cc)}`);
      }
      assert.ok(superPackets(run.metrics, "read") > 0, "the broker read super-packets (its own TCP to the client)");
      assert.ok(superPackets(run.metrics, "write") > 0, "the broker wrote joined super-packets (the client's TCP to it)");
      const c = clientOffloads(run.dtcpc);
      assert.ok(c.read > 0 && c.split > c.read, `the client split super-packets: ${JSON.stringify(c)}`);
      assert.ok(c.written > 0 && c.joined > c.written, `the client joined packets into super-packets: ${JSON.stringify(c)}`);
      // Over TCP the data connection's send queue is bounded: a burst the client has not read yet
      // may overflow it, and those packets are dropped and counted as sendFailed (TCP inside resends).
      const allowed = transport === "tcp" ? ["sendFailed"] : [];
      const drops = run.metrics
        .filter((x) => x.name === "dtcp_session_drops_total" && x.value > 0 && !allowed.includes(x.labels.reason!))
        .map((x) => `${x.labels.reason}: ${x.value}`);
      assert.deepEqual(drops, [], "no packet of the session was dropped");
    });
  }

  test("--no-offload: one packet per read and write at both ends; every byte still arrives", async () => {
    const run = await transfer({ transport: "udp", args: ["--no-offload"] });
    assert.match(run.dtcps, /TUN dtcpo0: one packet per read and write \(--no-offload\)/);
    assert.match(run.dtcpc, /TUN \S+: one packet per read and write \(--no-offload\)/);
    assert.match(run.dtcps, /UDP: one datagram per message \(--no-offload\)/);
    assert.match(run.dtcpc, /UDP: one datagram per message \(--no-offload\)/);
    assert.match(run.dtcps, /UDP: the shared sockets read one datagram per message \(--no-offload\)/);
    assert.match(run.dtcpc, /UDP: one datagram per read \(--no-offload\)/);
    assert.deepEqual(clientCoalesced(run.dtcpc), { reads: 0, datagrams: 0 });
    assert.equal(superPackets(run.metrics, "read") + superPackets(run.metrics, "write"), 0);
  });

  test("a kernel that refuses super-packets: both ends say so and fall back to one packet per read and write", async () => {
    const run = await transfer({ transport: "udp", env: { DTCP_TEST_REFUSE_OFFLOAD: "1" } });
    assert.match(run.dtcps, /TUN dtcpo0: the kernel refused a super-packet .*, so one packet per read and write/);
    assert.match(run.dtcpc, /TUN \S+: the kernel refused a super-packet .*, so one packet per read and write/);
    assert.match(run.dtcps, /UDP: the kernel refused a segmented send \(UDP_SEGMENT\), so one datagram per message/);
    assert.match(run.dtcpc, /UDP: the kernel refused a segmented send \(UDP_SEGMENT\), so one datagram per message/);
    assert.match(run.dtcps, /UDP: the kernel did not coalesce a segmented send \(UDP_GRO\), so the shared sockets read one datagram per message/);
    assert.match(run.dtcpc, /UDP: the kernel did not coalesce a segmented send \(UDP_GRO\), so one datagram per read/);
    assert.equal(superPackets(run.metrics, "read") + superPackets(run.metrics, "write"), 0);
    const c = clientOffloads(run.dtcpc);
    assert.deepEqual(c, { read: 0, split: 0, written: 0, joined: 0 });
    assert.deepEqual(clientCoalesced(run.dtcpc), { reads: 0, datagrams: 0 });
    assert.equal(total(run.metrics, "dtcp_dataplane_udp_coalesced_total", { what: "reads" }), 0);
  });
});
