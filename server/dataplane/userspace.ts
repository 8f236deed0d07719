// The userspace data plane: one TUN for all sessions, IPv6 over UDP/IPv4 and IPv6-in-IPv4
// (protocol 41), forwarded by packet worker threads (one TUN queue each). This side (main thread)
// configures the host, gives each session to a worker, relays open/close to it and keeps the
// counters the workers report.
//
// What start() changes on the host, and stop() undoes:
//   - creates the TUN (default dtcp0; txqueuelen 4096, up); it disappears with the worker;
//   - routes each pool prefix to the TUN (`ip route add <pool> dev <tun>`);
//   - sets net.ipv6.conf.all.forwarding=1 if it was 0, so the kernel forwards between the uplink
//     and the TUN, and sets it back to 0 at stop (only if it was 0 before). Linux then ignores
//     router advertisements on interfaces with accept_ra=1: a warning names those whose addresses came from them.
// While a host session lives, its server address (serverIpv6/128) is on the TUN, so the client
// can reach its end of the link.
//
// MTU: one TUN MTU for everyone, default 1280, the IPv6 minimum that every client accepts (user
// MTUs are 1280..1480) and that fits any IPv4 path with room to spare (1280 + 28 for UDP). The
// kernel answers larger packets bound for a client with Packet Too Big, so path MTU discovery
// works end to end. Raise it only if every client's tunnel MTU and IPv4 path allow it.

import { type TrafficCounters } from "../domain/types.ts";
import { closeSync, existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { availableParallelism } from "node:os";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";
import type { Logger } from "../log.ts";
import type { MetricFamily, MetricsSource } from "../metrics/exposition.ts";
import { devicesWithLearntAddresses } from "../net/if-inet6.ts";
import { formatIpv6, parseIpv6 } from "../net/ipv6.ts";
import { formatPrefix6, parsePrefix6, prefixContains, type Prefix6 } from "../net/prefix.ts";

import { bindingChange, newSessionCounters, SESSION_FIELDS, TOTAL_FIELDS, trafficCounters, tunnelStats } from "./counters.ts";
import { REPORT_RECORD } from "./forwarder.ts";
import { IpBatch } from "./ip-batch.ts";
import { dataPlaneMetrics } from "./metrics.ts";
import { UdpDivert, type NftRunner } from "./udp-divert.ts";
import { ipv4ToUint32, raw41Worker } from "./native.ts";
import type { DataPlane, StreamHandover, TunnelSpec, TunnelStats } from "./types.ts";
import { errorFrom, type FromWorker, type Request, type ToWorker, type WorkerConfig } from "./worker-protocol.ts";

export interface UserspaceDataPlaneOptions {
  /** TUN interface name; default "dtcp0". */
  tunName?: string;
  /** TUN MTU, 1280..1480; default 1280 (see above). */
  mtu?: number;
  /** Every link and delegation pool (CIDR): each is routed to the TUN. */
  pools: readonly string[];
  /** Local IPv4 address of the sessions' UDP sockets; default 0.0.0.0. */
  udpListenAddress?: string;
  /** Default true. False relaxes the outer IPv4 check for carrier-grade NATs (see acceptance.ts). */
  strictOuterSource?: boolean;
  /** Default true: the packets of several sessions go out in one system call (send-many.c); false sends each session's on its own. */
  sendTogether?: boolean;
  /** Default true: the TUN hands over and takes TCP super-packets when a probe shows the kernel does it right; false: one packet per read and write. */
  offload?: boolean;
  /**
   * Packet worker threads, 1..64, each with its own TUN queue and its own share of the sessions;
   * default: one per core but one, which the kernel's own packet work (receiving, IPv6 forwarding)
   * and the control plane need: a worker sharing a core with them forwards less, not more. One
   * with a relaxed outer source (a protocol-41 packet from a new address would reach a worker that
   * does not have its session), or where the kernel refuses to steer the TUN's queues (bpf()).
   */
  workers?: number;
  /**
   * Default true: each worker reads the datagrams of all its UDP sessions from one socket, to which
   * nftables diverts them (tproxy; udp-divert.ts), when the kernel and `nft` allow it; false, or
   * where they do not: from each session's own socket.
   */
  tproxy?: boolean;
  /** Runs nft scripts (tests stand in a failing one); default `nft -f -`. */
  nft?: NftRunner;
  /** How often the worker reports counters, at most 1000 ms; default 1000. */
  statsIntervalMs?: number;
  /** A TCP session whose client reads nothing of what waits for it for this long ends; default 30 s. */
  streamStallMs?: number;
  log: Logger;
  /**
   * A file that records, while IPv6 forwarding is on because of us, that it was off before: a
   * daemon killed before it could restore it leaves the file, and the next one restores it at its
   * stop. Without it, forwarding left on by a killed daemon stays on.
   */
  forwardingMarker?: string;
  /**
   * Called if the packet worker dies after start (a bug, or the TUN deleted under us). Default:
   * throw, so that the daemon exits and its supervisor restarts it rather than run without packets.
   */
  onFatal?: (err: Error) => void;
}

const FORWARDING = "/proc/sys/net/ipv6/conf/all/forwarding";
const TUN_NAME = /^[A-Za-z0-9_.-]{1,15}$/;
const STOP_TIMEOUT_MS = 2000;

interface LiveSession {
  spec: TunnelSpec;
  counters: Float64Array;
  /** Kernel routes of this session alone: its prefixes that no pool routed at start covers. */
  ownRoutes: string[];
}

interface Call {
  resolve: (counters: Float64Array | null) => void;
  reject: (err: Error) => void;
}

interface PacketWorker {
  thread: Worker;
  /** Its TUN queue's index, and its set's in the nftables table. */
  index: number;
  /** Live sessions it owns (counted from the moment one is given to it). */
  sessions: number;
  /** Its latest daemon-wide figures; the data plane's are their sum. */
  totals: Float64Array;
}

type Started = Extract<FromWorker, { kind: "started" }>;
const MAX_WORKERS = 64;

export class UserspaceDataPlane implements DataPlane, MetricsSource {
  readonly description: string;
  readonly #config: Omit<WorkerConfig, "worker" | "workers" | "shared">;
  readonly #wantedWorkers: number;
  #pools: string[];
  #poolPrefixes: Prefix6[];
  readonly #log: Logger;
  readonly #onFatal: (err: Error) => void;
  readonly #ip = new IpBatch();
  #workers: PacketWorker[] = [];
  #divert: UdpDivert | null = null;
  readonly #nft: NftRunner | undefined;
  readonly #owners = new Map<number, PacketWorker>();
  #tunName: string;
  #stopping = false;
  #routed: string[] = [];
  #enabledForwarding = false;
  #seq = 0;
  readonly #calls = new Map<number, Call>();
  readonly #sessions = new Map<number, LiveSession>();
  #totals: Float64Array = new Float64Array(TOTAL_FIELDS);
  #lost: (sessionId: number, reason: string) => void = () => {};
  readonly #forwardingMarker: string | null;

  constructor(opts: UserspaceDataPlaneOptions) {
    const tunName = opts.tunName ?? "dtcp0";
    if (!TUN_NAME.test(tunName)) throw new Error(`invalid TUN name ${JSON.stringify(tunName)}: 1 to 15 letters, digits, "_", "." or "-"`);
    const mtu = opts.mtu ?? 1280;
    if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 1480) throw new RangeError(`TUN MTU must be 1280..1480, not ${mtu}`);
    const statsIntervalMs = opts.statsIntervalMs ?? 1000;
    if (!(statsIntervalMs > 0 && statsIntervalMs <= 1000)) throw new RangeError("statsIntervalMs must be in (0, 1000]");
    const udpListenAddress = opts.udpListenAddress ?? "0.0.0.0";
    ipv4ToUint32(udpListenAddress);
    this.#poolPrefixes = opts.pools.map(parsePrefix6);
    this.#pools = this.#poolPrefixes.map(formatPrefix6);
    const strictOuterSource = opts.strictOuterSource ?? true;
    const workers = opts.workers ?? Math.max(1, Math.min(availableParallelism() - 1, MAX_WORKERS));
    if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) throw new RangeError(`workers must be 1..${MAX_WORKERS}, not ${workers}`);
    this.#wantedWorkers = strictOuterSource ? workers : 1;
    this.#config = {
      tunName,
      mtu,
      txQueueLen: 4096,
      udpListenAddress,
      strictOuterSource,
      sendTogether: opts.sendTogether ?? true,
      sharedUdp: opts.tproxy ?? true,
      offload: opts.offload ?? true,
      statsIntervalMs,
      streamStallMs: opts.streamStallMs ?? 30_000,
    };
    this.#tunName = tunName;
    this.#nft = opts.nft;
    this.#log = opts.log;
    this.#forwardingMarker = opts.forwardingMarker ?? null;
    this.#onFatal =
      opts.onFatal ??
      ((err) => {
        throw err;
      });
    this.description =
      `userspace: TUN ${tunName} (MTU ${mtu}), ${this.#pools.length} pool(s) routed to it, ` +
      `UDP on ${udpListenAddress}, outer source ${strictOuterSource ? "strict" : "relaxed"}`;
  }

  /** Creates the TUN and the sockets (in the worker), routes the pools and enables forwarding. */
  async start(): Promise<void> {
    if (this.#workers.length > 0) throw new Error("data plane already started");
    this.#stopping = false;
    try {
      this.#tunName = await this.#startWorkers();
      for (const pool of this.#pools) {
        await this.#ip.run(`route add ${pool} dev ${this.#tunName}`);
        this.#routed.push(pool);
      }
      await this.#enableForwarding();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Routes pools added since start to the TUN and stops routing removed ones, while it runs. */
  async setPools(cidrs: readonly string[]): Promise<void> {
    const prefixes = cidrs.map(parsePrefix6);
    const wanted = prefixes.map(formatPrefix6);
    this.#poolPrefixes = prefixes;
    this.#pools = wanted;
    if (this.#workers.length === 0) return;
    for (const pool of wanted.filter((p) => !this.#routed.includes(p))) {
      await this.#ip.run(`route add ${pool} dev ${this.#tunName}`);
      this.#routed.push(pool);
      this.#log.info(`routing pool ${pool} to ${this.#tunName}`);
    }
    for (const pool of this.#routed.filter((p) => !wanted.includes(p))) {
      await this.#ip.run(`route del ${pool} dev ${this.#tunName}`).catch((err: Error) => this.#log.warn(err.message));
      this.#routed = this.#routed.filter((p) => p !== pool);
      this.#log.info(`no longer routing pool ${pool}`);
    }
  }

  async open(spec: TunnelSpec): Promise<void> {
    const worker = this.#workerFor(spec);
    worker.sessions++;
    let counters: Float64Array | null;
    try {
      counters = await this.#call(worker, { kind: "open", spec });
    } catch (err) {
      worker.sessions--;
      throw err;
    }
    this.#owners.set(spec.sessionId, worker);
    if (spec.transport === "udp") this.#divert?.add(spec.serverUdpPort!, worker.index);
    const live: LiveSession = { spec, counters: counters ?? newSessionCounters(), ownRoutes: [] };
    this.#sessions.set(spec.sessionId, live);
    const address = serverAddress(spec);
    try {
      // A prefix no routed pool covers (its pool is not routed yet) gets a route of its own.
      for (const prefix of sessionPrefixes(spec)) {
        if (this.#poolPrefixes.some((pool) => prefixContains(pool, prefix))) continue;
        const cidr = formatPrefix6(prefix);
        await this.#ip.run(`route add ${cidr} dev ${this.#tunName}`);
        live.ownRoutes.push(cidr);
      }
      if (address !== null) await this.#ip.run(`address add ${address}/128 dev ${this.#tunName} nodad`);
    } catch (err) {
      await this.close(spec.sessionId);
      throw err;
    }
  }

  async attachStream(sessionId: number, stream: StreamHandover): Promise<void> {
    const worker = this.#owners.get(sessionId);
    if (!worker || this.#workers.length === 0) {
      closeSync(stream.fd);
      throw new Error(this.#workers.length === 0 ? "data plane not running" : `session ${sessionId} takes no data connection`);
    }
    await this.#call(worker, { kind: "attach", sessionId, stream });
  }

  onLost(listener: (sessionId: number, reason: string) => void): void {
    this.#lost = listener;
  }

  async close(sessionId: number): Promise<TrafficCounters | null> {
    const live = this.#sessions.get(sessionId);
    if (!live) return null;
    this.#sessions.delete(sessionId);
    let final = live.counters;
    const worker = this.#owners.get(sessionId);
    this.#owners.delete(sessionId);
    if (live.spec.transport === "udp") this.#divert?.remove(live.spec.serverUdpPort!);
    if (worker && this.#workers.length > 0) {
      worker.sessions--;
      final = (await this.#call(worker, { kind: "close", sessionId })) ?? final;
    }
    const address = serverAddress(live.spec);
    if (this.#workers.length > 0) {
      const undo = live.ownRoutes.map((cidr) => `route del ${cidr} dev ${this.#tunName}`);
      if (address !== null) undo.push(`address del ${address}/128 dev ${this.#tunName}`);
      for (const command of undo) await this.#ip.run(command).catch((err: Error) => this.#log.warn(err.message));
    }
    return trafficCounters(final);
  }

  stats(sessionId: number): TunnelStats | null {
    const live = this.#sessions.get(sessionId);
    return live ? tunnelStats(live.counters) : null;
  }

  collectMetrics(): MetricFamily[] {
    const sessions = [...this.#sessions.values()].map((s) => ({ sessionId: s.spec.sessionId, userName: s.spec.userName, counters: s.counters }));
    return dataPlaneMetrics(this.#totals, sessions, this.#workers.map((w) => w.totals));
  }

  /** Removes the routes, restores forwarding if we changed it, and ends the workers (the TUN goes with them). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#divert?.stop();
    this.#divert = null;
    const workers = this.#workers;
    for (const pool of this.#routed.splice(0)) {
      // A dead worker took the TUN and its routes with it.
      if (workers.length > 0) await this.#ip.run(`route del ${pool} dev ${this.#tunName}`).catch((err: Error) => this.#log.warn(err.message));
    }
    if (this.#enabledForwarding) {
      await writeFile(FORWARDING, "0\n").then(
        async () => {
          if (this.#forwardingMarker) await rm(this.#forwardingMarker, { force: true });
        },
        (err: Error) => this.#log.warn(`cannot restore IPv6 forwarding: ${err.message}`),
      );
      this.#enabledForwarding = false;
    }
    await Promise.all(
      workers.map(async ({ thread }) => {
        const exited = new Promise<void>((resolve) => thread.once("exit", () => resolve()));
        thread.postMessage({ kind: "stop" } satisfies ToWorker);
        const timer = setTimeout(() => void thread.terminate(), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }),
    );
    this.#workers = [];
    this.#owners.clear();
    this.#sessions.clear();
    await this.#ip.close();
  }

  /**
   * Starts the first worker, which creates the TUN, then the others one by one (each attaches the
   * next queue, whose index is the worker's); resolves with the TUN's name.
   */
  async #startWorkers(): Promise<string> {
    const first = await this.#startWorker({ ...this.#config, worker: 0, workers: this.#wantedWorkers, shared: null });
    let count = this.#wantedWorkers;
    if (first.alone !== null) {
      this.#log.warn(`one packet worker instead of ${count}: the TUN's queues cannot be steered (${first.alone})`);
      count = 1;
    }
    const sharedUdp = [first.sharedUdp];
    for (let worker = 1; worker < count; worker++) {
      const shared = { steeringFd: first.steeringFd!, offloads: first.offloads };
      sharedUdp.push((await this.#startWorker({ ...this.#config, tunName: first.tunName, worker, workers: count, shared })).sharedUdp);
    }
    if (this.#config.sharedUdp) await this.#startDivert(first.tunName, sharedUdp);
    this.#log.info(
      count === 1
        ? "one packet worker" + (this.#config.strictOuterSource ? "" : " (a relaxed outer source needs every protocol-41 session on one)")
        : `${count} packet workers, each with a TUN queue and its share of the sessions`,
    );
    return first.tunName;
  }

  /** Diverts the UDP sessions' datagrams to the workers' shared sockets, where the kernel and nft allow it. */
  async #startDivert(tunName: string, sockets: Started["sharedUdp"][]): Promise<void> {
    const ports = sockets.map((s) => (s !== null && "port" in s ? s.port : null));
    const failed = sockets.find((s) => s !== null && "error" in s);
    const why = (reason: string) => this.#log.warn(`UDP: each session's datagrams are read from its own socket: ${reason}`);
    if (ports.some((p) => p === null)) return why(failed && "error" in failed ? failed.error : "no shared socket");
    const divert = new UdpDivert({
      tunName,
      workerPorts: ports as number[],
      listenAddress: this.#config.udpListenAddress,
      log: this.#log,
      ...(this.#nft ? { run: this.#nft } : {}),
    });
    try {
      await divert.start();
    } catch (err) {
      return why(`${(err as Error).message} (nftables with tproxy is needed; --no-tproxy says not to try)`);
    }
    this.#divert = divert;
    this.#log.info(
      `UDP: the sessions' datagrams are diverted to one socket per packet worker (nftables table ${divert.table}, tproxy; --no-tproxy turns it off)`,
    );
    const bridges = await bridgesSeenByBrNetfilter(this.#config.udpListenAddress);
    if (bridges.length > 0) {
      this.#log.warn(
        `UDP: datagrams reaching ${bridges.join(", ")} (a bridge) are not diverted while net.bridge.bridge-nf-call-iptables=1 ` +
          "(br_netfilter runs prerouting on them as bridged frames, and the socket it picks is lost): they arrive on the sessions' own sockets. " +
          "Set it to 0, or keep the address off the bridge",
      );
    }
  }

  /** Resolves once the worker has its channels open. */
  #startWorker(config: WorkerConfig): Promise<Started> {
    const thread = new Worker(new URL("./worker-entry.js", import.meta.url), { workerData: config });
    const worker: PacketWorker = { thread, index: config.worker, sessions: 0, totals: new Float64Array(TOTAL_FIELDS) };
    return new Promise((resolve, reject) => {
      let started = false;
      thread.on("message", (m: FromWorker) => {
        switch (m.kind) {
          case "started":
            started = true;
            this.#workers.push(worker);
            resolve(m);
            break;
          case "startFailed":
            reject(errorFrom(m.error));
            break;
          case "done":
            this.#settle(m.seq)?.resolve(m.counters);
            break;
          case "failed":
            this.#settle(m.seq)?.reject(errorFrom(m.error));
            break;
          case "report":
            this.#applyReport(worker, m.sessions, m.totals);
            break;
          case "log":
            this.#log[m.level](m.message);
            break;
          case "lost":
            if (this.#sessions.has(m.sessionId)) this.#lost(m.sessionId, m.reason);
            break;
        }
      });
      thread.on("error", (err) => {
        if (started) this.#died(err);
        else reject(err);
      });
      thread.on("exit", (code) => {
        if (!started) reject(new Error(`packet worker exited during start (code ${code})`));
        else if (!this.#stopping) this.#died(new Error(`packet worker exited (code ${code})`));
      });
    });
  }

  /** Protocol 41: the worker whose socket receives the client's address; else the one with the fewest sessions. */
  #workerFor(spec: TunnelSpec): PacketWorker {
    const workers = this.#workers;
    if (workers.length === 0) throw new Error("data plane not running");
    if (spec.transport === "proto41") return workers[raw41Worker(ipv4ToUint32(spec.clientIpv4), workers.length)]!;
    return workers.reduce((least, w) => (w.sessions < least.sessions ? w : least));
  }

  #died(err: Error): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#workers = [];
    for (const [seq, call] of this.#calls) {
      this.#calls.delete(seq);
      call.reject(err);
    }
    this.#onFatal(new Error(`data plane worker died: ${err.message}`, { cause: err }));
  }

  #call(worker: PacketWorker, request: Request): Promise<Float64Array | null> {
    if (this.#workers.length === 0) return Promise.reject(new Error("data plane not running"));
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#calls.set(seq, { resolve, reject });
      worker.thread.postMessage({ ...request, seq } satisfies ToWorker);
    });
  }

  #settle(seq: number): Call | undefined {
    const call = this.#calls.get(seq);
    this.#calls.delete(seq);
    return call;
  }

  #applyReport(worker: PacketWorker, records: Float64Array, totals: Float64Array): void {
    worker.totals = totals;
    const sum = new Float64Array(TOTAL_FIELDS);
    for (const w of this.#workers) for (let i = 0; i < TOTAL_FIELDS; i++) sum[i]! += w.totals[i]!;
    this.#totals = sum;
    for (let at = 0; at < records.length; at += REPORT_RECORD) {
      // A session closed meanwhile is gone from the map: its report is stale.
      const live = this.#sessions.get(records[at]!);
      if (!live) continue;
      const next = records.subarray(at + 1, at + 1 + SESSION_FIELDS);
      // A NAT binding learnt or moved (at most one line per session and report).
      const moved = bindingChange(live.counters, next, live.spec);
      if (moved !== null) this.#log.info(`session ${live.spec.sessionId} of ${live.spec.userName}: ${moved}`);
      live.counters.set(next);
    }
  }

  async #enableForwarding(): Promise<void> {
    const marker = this.#forwardingMarker;
    if ((await readFile(FORWARDING, "utf8")).trim() !== "0") {
      if (marker && existsSync(marker)) {
        this.#enabledForwarding = true;
        this.#log.info(`IPv6 forwarding was enabled by a run that could not restore it (${marker}): restored at stop`);
      }
      return;
    }
    try {
      if (marker) await writeFile(marker, "net.ipv6.conf.all.forwarding was 0 before dtcps enabled it\n", { mode: 0o600 });
      await writeFile(FORWARDING, "1\n");
    } catch (err) {
      // E.g. a dedicated user with CAP_NET_ADMIN but no write access to /proc/sys.
      throw new Error(
        `IPv6 forwarding is off and cannot be enabled (${(err as NodeJS.ErrnoException).code}): ` +
          "set net.ipv6.conf.all.forwarding=1 (e.g. in /etc/sysctl.d) before starting dtcps",
        { cause: err },
      );
    }
    this.#enabledForwarding = true;
    // Only interfaces whose addresses came from router advertisements lose something: a down or
    // statically configured one with accept_ra=1 is no reason to warn.
    const ignoringRa: string[] = [];
    const learnt = devicesWithLearntAddresses(await readFile("/proc/net/if_inet6", "utf8").catch(() => ""));
    for (const dev of learnt) {
      if (dev === this.#tunName) continue;
      const acceptRa = await readFile(`/proc/sys/net/ipv6/conf/${dev}/accept_ra`, "utf8").catch(() => "");
      if (acceptRa.trim() === "1") ignoringRa.push(dev);
    }
    this.#log.info("enabled IPv6 forwarding (net.ipv6.conf.all.forwarding=1) for the tunnels; restored at stop");
    if (ignoringRa.length > 0) {
      this.#log.warn(
        `with forwarding on, ${ignoringRa.join(", ")} no longer accept router advertisements (accept_ra=1): ` +
          "set accept_ra=2 on an uplink configured by RA, or configure it statically",
      );
    }
  }
}

/**
 * Bridges holding the listen address (any IPv4 address, on the wildcard) while br_netfilter passes
 * bridged IPv4 through the IPv4 hooks: a tproxy decision made there does not survive.
 */
async function bridgesSeenByBrNetfilter(listen: string): Promise<string[]> {
  const on = (await readFile("/proc/sys/net/bridge/bridge-nf-call-iptables", "utf8").catch(() => "0")).trim() === "1";
  if (!on) return [];
  // `ip` rather than os.networkInterfaces(), which leaves out a bridge whose ports are not forwarding yet.
  const { stdout } = await promisify(execFile)("ip", ["-j", "-4", "addr", "show"]).catch(() => ({ stdout: "[]" }));
  const links = JSON.parse(stdout) as { ifname: string; addr_info?: { local: string }[] }[];
  return links
    .filter((l) => existsSync(`/sys/class/net/${l.ifname}/bridge`) && (l.addr_info ?? []).some((a) => listen === "0.0.0.0" || a.local === listen))
    .map((l) => l.ifname);
}

/** The client's address and routed prefix: what the kernel must send to the TUN for this session. */
function sessionPrefixes(spec: TunnelSpec): Prefix6[] {
  const prefixes: Prefix6[] = [];
  if (spec.clientIpv6 !== null) prefixes.push({ address: parseIpv6(spec.clientIpv6), length: 128 });
  if (spec.prefix !== null) prefixes.push(parsePrefix6(spec.prefix));
  return prefixes;
}

/** The server's end of a host session's link, canonical, or null. */
function serverAddress(spec: TunnelSpec): string | null {
  return spec.type === "host" && spec.serverIpv6 !== null ? formatIpv6(parseIpv6(spec.serverIpv6)) : null;
}
