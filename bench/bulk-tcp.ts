// Bulk TCP through the tunnel: iperf3 goodput and forwarder CPU per gigabyte, through our dtcps and
// dtcpc (offloads on, and with --no-offload), through a pair of naive C relays, and over the bare
// path of the same namespaces.
//
//   npm run bench:bulk            (as root: namespaces, TUN, raw sockets; Debian's iperf3)
//
// Topology (namespaces dtcp-bk<role>-<pid> made with test/support/namespaces.ts, all removed at exit):
//
//   client 10.97.0.2 fd00:97::2 ── veth ── 10.97.0.1 fd00:97::1 broker fd00:96::1 ── veth ── fd00:96::2 external
//                                                                                              fd00:95::2
// The bare path: client → fd00:96::2, forwarded by the broker's kernel (veth moves 64 KB
// super-packets). The tunnel: client → fd00:95::2 through the client's TUN, the tunnel to the broker,
// the broker's TUN and its kernel. Forwarders:
//   ours     — `node bin/dtcps.js` in the broker and `node bin/dtcpc.js -t host` in the client;
//   ours -O  — the same with --no-offload on both (one packet per TUN read and write);
//   relay    — bench/relay/relay.c at both ends (the broker's for the client's /64, the client's for
//              everything): one packet per TUN read and write, recvmmsg/sendmmsg, no offloads.
// Rows: transport (UDP, protocol 41, TCP: ours only) × MTU × direction (up: client → external,
// down: the reverse, iperf3 -R) × parallel streams. Each figure is the median of BENCH_REPEAT runs
// (default 3) of BENCH_SECONDS (default 5), forwarders alternating within a repeat. CPU per GB is
// the run time of every thread of the forwarder processes at both ends (schedstat) over the run,
// per gigabyte carried. Nothing is pinned: iperf3 at both ends and both forwarders share the 2 cores,
// as a client and a broker on one machine would not; compare within one run.
//
// Targets (issue 17), at MTU 1280 over UDP: ours ≥ 0.25 × the bare path both ways, ≥ 2.5 × the
// relay, CPU per GB ≤ 0.4 × the relay's.
//
//   BENCH_TRANSPORTS=udp,proto41,tcp  BENCH_MTUS=1280,1480  BENCH_STREAMS=1,4  BENCH_ONLY=ours,relay
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tempDataDir } from "../test/support/broker.ts";
import { Namespaces, run } from "../test/support/namespaces.ts";
import { Child, dtcpctl, nodeIn, REPO } from "../test/support/processes.ts";

type Transport = "udp" | "proto41" | "tcp";
type Forwarder = "bare" | "ours" | "ours-O" | "relay";
const env = process.env;
const list = (v: string | undefined, dflt: string) => (v ?? dflt).split(",").map((s) => s.trim()).filter(Boolean);
const TRANSPORTS = list(env.BENCH_TRANSPORTS, "udp,proto41,tcp") as Transport[];
const MTUS = list(env.BENCH_MTUS, "1280,1480").map(Number);
const STREAMS = list(env.BENCH_STREAMS, "1,4").map(Number);
const ONLY = list(env.BENCH_ONLY, "ours,ours-O,relay") as Forwarder[];
const REPEAT = Number(env.BENCH_REPEAT ?? 3);
const SECONDS = Number(env.BENCH_SECONDS ?? 5);
const TARGET_BARE = 0.25;
const TARGET_RELAY = 2.5;
const TARGET_CPU = 0.4;

const ns = new Namespaces();
const children: Child[] = [];
let C = "", B = "", X = "";
const data = tempDataDir();
const scratch = mkdtempSync(join(tmpdir(), "dtcp-bulk-"));
const relayBin = join(scratch, "relay");
const sh = (n: string, ...argv: string[]) => ns.exec(n, ...argv);

async function topology(): Promise<void> {
  C = await ns.add("bkc");
  B = await ns.add("bkb");
  X = await ns.add("bkx");
  for (const n of [C, B, X]) await sh(n, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0");
  await ns.link(C, "c0", B, "b0");
  await ns.link(B, "b1", X, "x0");
  await sh(C, "ip", "addr", "add", "10.97.0.2/24", "dev", "c0");
  await sh(C, "ip", "-6", "addr", "add", "fd00:97::2/64", "dev", "c0", "nodad");
  await sh(C, "ip", "-6", "route", "add", "fd00:96::/64", "via", "fd00:97::1");
  await sh(B, "ip", "addr", "add", "10.97.0.1/24", "dev", "b0");
  await sh(B, "ip", "-6", "addr", "add", "fd00:97::1/64", "dev", "b0", "nodad");
  await sh(B, "ip", "-6", "addr", "add", "fd00:96::1/64", "dev", "b1", "nodad");
  await sh(B, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1");
  await sh(B, "ip", "-6", "route", "add", "fd00:95::/64", "via", "fd00:96::2");
  await sh(X, "ip", "-6", "addr", "add", "fd00:96::2/64", "dev", "x0", "nodad");
  await sh(X, "ip", "-6", "addr", "add", "fd00:95::2/128", "dev", "x0", "nodad");
  await sh(X, "ip", "-6", "route", "add", "default", "via", "fd00:96::1");
  // Permanent neighbours: under load, resolution can fail and zero a run.
  const mac = async (n: string, dev: string) => JSON.parse(await sh(n, "ip", "-j", "link", "show", dev))[0].address as string;
  await sh(C, "ip", "-6", "neigh", "replace", "fd00:97::1", "lladdr", await mac(B, "b0"), "dev", "c0", "nud", "permanent");
  await sh(B, "ip", "-6", "neigh", "replace", "fd00:97::2", "lladdr", await mac(C, "c0"), "dev", "b0", "nud", "permanent");
  await sh(B, "ip", "-6", "neigh", "replace", "fd00:96::2", "lladdr", await mac(X, "x0"), "dev", "b1", "nud", "permanent");
  await sh(X, "ip", "-6", "neigh", "replace", "fd00:96::1", "lladdr", await mac(B, "b1"), "dev", "x0", "nud", "permanent");
  dtcpctl(data.env, ["pool", "add", "2001:db8:fff0::/64", "--purpose", "link"]);
  dtcpctl(data.env, ["user", "add", "bulk", "--tunnel-password-stdin", "--transports", "proto41,udp,tcp"], "bulk-Tunnel-pw-1\n");
  writeFileSync(join(data.dir, "dtcpc.auth"), "10.97.0.1:bulk:bulk-Tunnel-pw-1\n");
  await run("cc", ["-O2", "-Wall", "-o", relayBin, join(REPO, "bench/relay/relay.c"), "-lm"]);
}

/** CPU nanoseconds of every thread of these processes so far. */
function cpuNs(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    for (const task of readdirSync(`/proc/${pid}/task`)) total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
  }
  return total;
}

/** A forwarder up for one transport and MTU: its processes, stopped by stop(). */
interface Running {
  pids: number[];
  target: string;
  stop(): Promise<void>;
}

async function stopAll(procs: Child[]): Promise<void> {
  for (const p of procs) p.kill("SIGTERM");
  await Promise.all(procs.map((p) => p.exited));
}

async function startOurs(transport: Transport, mtu: number, offload: boolean): Promise<Running> {
  const extra = offload ? [] : ["--no-offload"];
  dtcpctl(data.env, ["user", "set", "bulk", "--mtu", String(mtu)]);
  const dtcps = nodeIn(B, ["bin/dtcps.js", "-U", "--tun-name", "dtcpk0", "--tun-mtu", String(mtu), ...(transport === "tcp" ? ["--tcp-tunnels", "20201"] : []), ...extra], data.env);
  children.push(dtcps);
  await dtcps.waitFor(/dtcps listening on/, 30_000);
  const how = transport === "udp" ? ["-U"] : transport === "tcp" ? ["--tcp"] : [];
  const dtcpc = nodeIn(C, ["bin/dtcpc.js", "-d", ...how, ...extra, "-m", String(mtu), "-t", "host", "-u", "bulk", "--auth-file", join(data.dir, "dtcpc.auth"), "10.97.0.1"], data.env);
  children.push(dtcpc);
  const up = await dtcpc.waitFor(/tunnel up: /, 30_000);
  const ifname = / on ([^\s,]+)/.exec(up)?.[1] ?? "";
  const offloads = [dtcps, dtcpc].map((p) => p.lines.find((l) => /TUN \S+: /.test(l)) ?? "?");
  console.log(`  ${transport} ${mtu} ${offload ? "ours" : "ours-O"}: ${offloads.map((l) => l.replace(/^.*TUN /, "TUN ")).join(" | ")}`);
  await sh(C, "ip", "-6", "route", "replace", "fd00:95::/64", "dev", ifname);
  return {
    pids: [dtcps.pid!, dtcpc.pid!],
    target: "fd00:95::2",
    stop: () => stopAll([dtcpc, dtcps]),
  };
}

async function startRelay(transport: Transport, mtu: number): Promise<Running> {
  const how = (local: string, peer: string) => (transport === "udp" ? ["--udp", `${local}:4999`, "--client", `${peer}:4999`] : ["--raw41", "--client", peer]);
  const broker = new Child("ip", ["netns", "exec", B, relayBin, "--tun", "rlyb0", "--mtu", String(mtu), "--prefix", "2001:db8:77::/64", ...how("10.97.0.1", "10.97.0.2")]);
  const client = new Child("ip", ["netns", "exec", C, relayBin, "--tun", "rlyc0", "--mtu", String(mtu), "--prefix", "::/0", ...how("10.97.0.2", "10.97.0.1")]);
  children.push(broker, client);
  await Promise.all([broker.waitFor(/ready/, 10_000), client.waitFor(/ready/, 10_000)]);
  await sh(B, "ip", "-6", "route", "replace", "2001:db8:77::/64", "dev", "rlyb0");
  await sh(C, "ip", "-6", "addr", "add", "2001:db8:77::2/64", "dev", "rlyc0", "nodad");
  await sh(C, "ip", "-6", "route", "replace", "fd00:95::/64", "dev", "rlyc0", "src", "2001:db8:77::2");
  return { pids: [broker.pid!, client.pid!], target: "fd00:95::2", stop: () => stopAll([client, broker]) };
}

/** Goodput (Gbit/s) and the forwarders' CPU per GB carried. */
let iperfPort = 5201;
async function measure(target: string, down: boolean, streams: number, pids: number[]): Promise<{ gbps: number; cpuPerGb: number }> {
  // A one-off server per run on a port of its own: a server whose last test ended badly stays busy.
  const port = String(iperfPort++);
  const server = new Child("ip", ["netns", "exec", X, "iperf3", "-s", "-1", "-p", port, "--forceflush"]);
  children.push(server);
  await server.waitFor(/Server listening/, 10_000);
  const before = cpuNs(pids);
  const { stdout } = await run("ip", ["netns", "exec", C, "iperf3", "-6", "-c", target, "-p", port, "-t", String(SECONDS), "-P", String(streams), "-J", ...(down ? ["-R"] : [])], {
    timeout: (SECONDS + 30) * 1000,
    maxBuffer: 64 * 1024 * 1024,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? "{}" }));
  const cpu = cpuNs(pids) - before;
  server.kill("SIGKILL");
  await server.exited;
  const result = JSON.parse(stdout);
  if (result.error || !result.end) throw new Error(`iperf3 to ${target}: ${result.error ?? "no result"}`);
  const end = result.end;
  const bytes: number = end.sum_received.bytes;
  const gbps = (end.sum_received.bits_per_second as number) / 1e9;
  return { gbps, cpuPerGb: pids.length ? cpu / 1e9 / (bytes / 1e9) : NaN };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};
const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "–");

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run as root: namespaces, TUN, raw sockets");
  await topology();
  console.log(`bulk TCP, iperf3 ${SECONDS} s × ${REPEAT}, medians; Gbit/s and forwarder CPU-s per GB at both ends`);
  const rows: string[] = ["| transport | MTU | direction | streams | bare path | ours | ours --no-offload | relay | ours/bare (≥ 0.25) | ours/relay (≥ 2.5) | CPU-s/GB ours / ours -O / relay | CPU ours/relay (≤ 0.4) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"];
  for (const transport of TRANSPORTS) {
    for (const mtu of MTUS) {
      if (transport === "udp" && mtu > 1472) continue; // 20 + 8 + MTU must fit the 1500-byte link
      const forwarders = ONLY.filter((w) => !(w === "relay" && transport === "tcp"));
      const results = new Map<string, { gbps: number[]; cpu: number[] }>();
      const key = (w: Forwarder, down: boolean, streams: number) => `${w} ${down} ${streams}`;
      const add = (k: string, r: { gbps: number; cpuPerGb: number }) => {
        const e = results.get(k) ?? { gbps: [], cpu: [] };
        e.gbps.push(r.gbps);
        e.cpu.push(r.cpuPerGb);
        results.set(k, e);
      };
      for (let rep = 0; rep < REPEAT; rep++) {
        for (const w of ["bare", ...forwarders] as Forwarder[]) {
          const running: Running =
            w === "bare" ? { pids: [], target: "fd00:96::2", stop: async () => {} } : w === "relay" ? await startRelay(transport, mtu) : await startOurs(transport, mtu, w === "ours");
          try {
            for (const down of [false, true]) for (const streams of STREAMS) add(key(w, down, streams), await measure(running.target, down, streams, running.pids));
          } finally {
            await running.stop();
          }
        }
      }
      for (const down of [false, true]) {
        for (const streams of STREAMS) {
          const g = (w: Forwarder) => median(results.get(key(w, down, streams))?.gbps ?? []);
          const c = (w: Forwarder) => median(results.get(key(w, down, streams))?.cpu ?? []);
          const row = `| ${transport} | ${mtu} | ${down ? "down" : "up"} | ${streams} | ${f(g("bare"))} | ${f(g("ours"))} | ${f(g("ours-O"))} | ${f(g("relay"))} | ${f(g("ours") / g("bare"))} ${g("ours") / g("bare") >= TARGET_BARE ? "✓" : "✗"} | ${f(g("ours") / g("relay"))} ${g("ours") / g("relay") >= TARGET_RELAY ? "✓" : "✗"} | ${f(c("ours"))} / ${f(c("ours-O"))} / ${f(c("relay"))} | ${f(c("ours") / c("relay"))} ${c("ours") / c("relay") <= TARGET_CPU ? "✓" : "✗"} |`;
          rows.push(row);
          console.log(row);
        }
      }
    }
  }
  console.log(`\n${rows.join("\n")}`);
}

async function cleanup(): Promise<void> {
  for (const c of children) c.kill("SIGKILL");
  await Promise.all(children.map((c) => c.exited));
  await ns.removeAll();
  data.cleanup();
  rmSync(scratch, { recursive: true, force: true });
}

process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));
main().then(
  () => cleanup(),
  async (err) => {
    console.error(err);
    await cleanup();
    process.exitCode = 1;
  },
);
