import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { startApiServer, type ApiServer } from "./api/server.ts";
import { loadOrCreateApiKey } from "./api/token.ts";
import { Broker } from "./broker/broker.ts";
import type { Paths } from "./config.ts";
import type { AbuseLimits } from "./control/abuse.ts";
import { LoginThrottle } from "./security/login-throttle.ts";
import type { ControlTimeouts } from "./control/connection.ts";
import { ControlServer, type TunnelListeners } from "./control/server.ts";
import { loadOrCreateTlsIdentity } from "./secrets/certificate.ts";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Db } from "./db/client.ts";
import { isBusy, type LoginStore } from "./db/login-store.ts";
import type { DataPlane } from "./dataplane/types.ts";
import { ProblemLog, type Logger } from "./log.ts";
import type { MetricsSource } from "./metrics/exposition.ts";
import { startMetricsServer, type MetricsServer } from "./metrics/server.ts";
import { DomainError, prefixField } from "./domain/errors.ts";
import { SessionLedger } from "./repositories/sessions/repository.ts";
import { loadKeyFile, loadOrCreateSecretKey } from "./secrets/tunnel-password.ts";
import { holdPopLock } from "./storage/pop-lock.ts";
import { openStorage, type Storage } from "./storage/storage.ts";
import { DEFAULT_RETENTION, purgeExpired, type Retention } from "./storage/retention.ts";
import type { LoginRateLimits } from "./security/login-rate.ts";
import type { PopRef } from "./repositories/pops/repository.ts";
import { DEFAULT_POP } from "./repositories/pops/schema.ts";
import { formatPrefix6 } from "./net/prefix.ts";

export interface DaemonConfig {
  paths: Paths;
  /** The POP this daemon is (dtcps --pop): registered at start, its heartbeat kept. */
  pop: PopIdentity;
  host: string;
  port: number;
  udpEnabled: boolean;
  udpBasePort: number;
  publicIpv4: string | null;
  /** dtcps [prefix]: a link pool for host tunnels that must exist. */
  linkPrefix: string | null;
  /** Packets (and TCP sessions' data connections) from other addresses than the control connection's are refused. */
  strictOuterSource: boolean;
  /**
   * IPv6 over TCP (dtcps --tcp-tunnels, --tls-tunnels): listeners that speak DTCP and take data
   * connections, in plain TCP and in TLS; both null: not offered.
   */
  tunnels: TunnelOptions;
  timeouts: ControlTimeouts;
  abuse: AbuseLimits;
  /** How long a TCP session waits for its data connection (default 30 s). */
  attachTimeoutMs?: number;
  /** How often live sessions' users are checked for removal, disabling or a new DTCP password (default 1 s). */
  revocationCheckMs?: number;
  /** Builds the data plane from every pool's CIDR in the database (each is routed to it). */
  dataPlane: (pools: readonly string[]) => DataPlane;
  /** Where to serve Prometheus /metrics; null = not served. */
  metrics: { host: string; port: number } | null;
  /** Where to serve the live-session API for the web UI, over TLS with `tls`; null = not served. */
  api: { host: string; port: number; tls?: { certFile: string; keyFile: string } | null } | null;
  /** How often live sessions' counters are written to their rows; default a minute. */
  trafficRecordMs?: number;
  /** How often this POP's open rows are matched against the sessions it holds; default a minute. */
  reconcileMs?: number;
  /** How long the audit log and the session history are kept (DEFAULT_RETENTION when absent). */
  retention?: Retention;
  /** How often one user may log in (DEFAULT_LOGIN_RATE_LIMITS when absent). */
  loginRate?: LoginRateLimits;
}

/** Where IPv6-over-TCP tunnels are offered. */
export interface TunnelOptions {
  tcp: { host: string; port: number } | null;
  /** Without certificate files, a self-signed certificate is made in the data directory (tls.crt, tls.key) and its fingerprint logged for clients to pin. */
  tls: { host: string; port: number; certFile: string | null; keyFile: string | null } | null;
}

export interface PopIdentity {
  name: string;
  /** Where the web app reaches this daemon's live-session API (dtcps --api-url); recorded when the POP has none. */
  apiUrl: string | null;
  /** Another POP silent for this long (at least 3 s) is taken for dead: its open sessions are ended (pop-lost). */
  lostAfterMs: number;
}

export interface Daemon {
  readonly address: AddressInfo;
  readonly pop: PopRef;
  readonly broker: Broker;
  readonly control: ControlServer;
  readonly storage: Storage;
  readonly db: Db;
  readonly dataPlane: DataPlane;
  readonly metrics: MetricsServer | null;
  readonly api: ApiServer | null;
  stop(): Promise<void>;
}

const SWEEP_INTERVAL_MS = 60_000;
const FAILED_LOGIN_FLUSH_MS = 5_000;
const RETENTION_FIRST_MS = 10_000;
const RETENTION_INTERVAL_MS = 3_600_000;
const TRAFFIC_RECORD_MS = 60_000;
const RECONCILE_MS = 60_000;
const REVOCATION_CHECK_MS = 1_000;
/**
 * Every POP beats at this pace whatever its own silence limit, so that POPs with different limits
 * still judge each other right; the limit is at least three beats (dtcps --pop-lost-after).
 */
const HEARTBEAT_MS = 1_000;

export async function startDaemon(config: DaemonConfig, log: Logger): Promise<Daemon> {
  // The sealing key is read now, so that a missing or unreadable one stops the start, not a login.
  const { paths } = config;
  const secretKey = loadOrCreateSecretKey(paths.secretKeyFile);
  const previousSecretKeys = paths.previousSecretKeyFile ? [loadKeyFile(paths.previousSecretKeyFile)] : [];
  // Before the database is touched: a second daemon of this POP would end the first one's live
  // sessions as left over by a crash, while the first went on carrying them.
  const popLock = await holdPopLock(paths.databaseUrl, config.pop.name, log);
  let storage: Storage;
  try {
    storage = await openStorage(paths.databaseUrl, { secretKey, previousSecretKeys });
  } catch (err) {
    await popLock.release();
    throw err;
  }
  const { db } = storage;
  // What has been started so far, undone in reverse order if a later step fails and by stop().
  const started: (() => Promise<void> | void)[] = [() => popLock.release(), () => storage.close()];
  const undo = async () => {
    for (const step of started.splice(0).reverse()) await step();
  };
  try {
    const pop = await storage.pops.register(config.pop.name, { publicHost: config.publicIpv4, apiUrl: config.pop.apiUrl }, { name: "dtcps" });
    const store = storage.openLoginStore(pop.id);
    started.push(() => store.close());
    const problems = new ProblemLog(log);
    started.push(() => problems.flush());
    const ledger = new SessionLedger(store, problems);
    // Before this run's first heartbeat: the previous run's sessions end at its last one.
    const stale = await ledger.endAllOpen("pop-lost");
    if (stale > 0) log.info(`marked ${stale} sessions left open by the previous run as ended at its last heartbeat (pop-lost)`);
    await store.heartbeat();
    if (config.linkPrefix !== null) await ensureLinkPool(storage, pop, config.linkPrefix, log);

    // Read before the pools, so that a pool added meanwhile is routed by the first watch.
    const startPoolsStamp = await store.poolsStamp();
    const dataPlane = config.dataPlane(await poolCidrs(storage, pop));
    await dataPlane.start().catch((err: Error) => {
      throw new Error(`data plane: ${err.message}${/CAP_NET_/.test(err.message) ? CAPABILITY_HINT : ""}`, { cause: err });
    });
    started.push(() => dataPlane.stop());
    log.info(`data plane: ${dataPlane.description}`);
    const throttle = new LoginThrottle(config.abuse);
    const broker = new Broker(storage, store, storage.box, ledger, dataPlane, throttle, log, {
      popId: pop.id,
      strictOuterSource: config.strictOuterSource,
      attachTimeoutMs: config.attachTimeoutMs,
      loginRate: config.loginRate,
      udpEnabled: config.udpEnabled,
      udpBasePort: config.udpBasePort,
      publicIpv4: config.publicIpv4,
    });
    const tunnels = tunnelListeners(config, log);
    const server = new ControlServer(broker, config.abuse, log, { host: config.host, port: config.port, timeouts: config.timeouts, tunnels }, (action, source, after) => {
      storage.audit.record({ name: "dtcps", source }, { action, after }).catch((err: unknown) => log.warn(`audit log write failed: ${(err as Error).message}`));
    });
    let metrics: MetricsServer | null = null;
    if (config.metrics) {
      const metricsServer = await startMetricsServer(config.metrics, [server, broker, ...(isMetricsSource(dataPlane) ? [dataPlane] : [])], { pop: pop.name }, (m) => log.warn(m));
      started.push(() => metricsServer.close());
      metrics = metricsServer;
      log.info(`metrics at http://${config.metrics.host}:${metricsServer.address.port}/metrics`);
    }
    warnIfFewDescriptors(config.abuse.maxUnauthenticated, log);
    const address = await server.listen();
    started.push(async () => {
      await broker.shutdown();
      await server.close();
      await broker.flushFailedLogins(true).catch((err: unknown) => log.warn(`audit log write failed: ${(err as Error).message}`));
    });
    const { tcp: tcpPort, tls: tlsPort } = server.tunnelPorts;
    if (tcpPort !== null) log.info(`IPv6 over TCP on ${config.tunnels.tcp!.host}:${tcpPort}`);
    if (tlsPort !== null) log.info(`IPv6 over TLS on ${config.tunnels.tls!.host}:${tlsPort} (${tunnels.tls!.description})`);
    await storage.pops.announceTunnels(pop.id, { tcpPort, tlsPort, tlsFingerprint: tunnels.tls?.fingerprint ?? null });
    let api: ApiServer | null = null;
    if (config.api) {
      const { tls, ...listen } = config.api;
      const apiServer = await startApiServer({ ...listen, tls: tls && { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } }, {
        broker,
        pop: pop.name,
        key: loadOrCreateApiKey(paths.apiKeyFile),
        previousKeys: paths.previousApiKeyFile ? [loadKeyFile(paths.previousApiKeyFile)] : [],
        log,
        standing: (ids) => storage.webSessions.standing(ids),
      });
      started.push(() => apiServer.close());
      api = apiServer;
      log.info(`live-session API at ${tls ? "https" : "http"}://${config.api.host}:${apiServer.address.port} (WebSocket /live)`);
    }
    // Removing, disabling or re-keying a user ends their live session within a second, and a pool
    // added or removed is routed or unrouted as fast, whichever process made the change: the
    // database is the only channel between them.
    let watching = false;
    let poolsStamp = startPoolsStamp;
    const watchPools = async () => {
      const stamp = await store.poolsStamp();
      if (stamp === poolsStamp) return;
      const now = await poolCidrs(storage, pop);
      await dataPlane.setPools(now);
      poolsStamp = stamp;
    };
    const revoker = setInterval(() => {
      if (watching) return;
      watching = true;
      Promise.all([
        broker.revokeStale().catch((err: unknown) => problems.report("checking live sessions' users", err)),
        watchPools().catch((err: unknown) => problems.report("routing the pools", err)),
      ]).finally(() => (watching = false));
    }, config.revocationCheckMs ?? REVOCATION_CHECK_MS).unref();
    started.push(() => clearInterval(revoker));
    // This POP's heartbeat, and the end of the sessions of POPs that fell silent.
    let beating = false;
    const heart = setInterval(() => {
      if (beating) return;
      beating = true;
      (async () => {
        await store.heartbeat();
        const lost = await store.endLostPops(config.pop.lostAfterMs, new Date());
        if (lost > 0) log.warn(`ended ${lost} sessions of POPs silent for over ${config.pop.lostAfterMs / 1000} s (pop-lost)`);
      })()
        .catch((err: unknown) => {
          if (!isBusy(err)) problems.report(`heartbeat of POP ${pop.name}`, err);
        })
        .finally(() => (beating = false));
    }, HEARTBEAT_MS).unref();
    started.push(() => clearInterval(heart));
    const sweeper = setInterval(() => {
      throttle.sweep();
      server.sweep();
      broker.sweep();
    }, SWEEP_INTERVAL_MS).unref();
    started.push(() => clearInterval(sweeper));
    // Failed logins beyond the first of an address in a minute reach the audit log as one summary.
    const summaries = setInterval(() => {
      broker.flushFailedLogins().catch((err: unknown) => log.warn(`audit log write failed: ${(err as Error).message}`));
    }, FAILED_LOGIN_FLUSH_MS).unref();
    started.push(() => clearInterval(summaries));
    // Old audit entries and ended sessions go, soon after the start and then hourly: what failed
    // logins and logins in a loop leave behind cannot grow the database for ever.
    const retention = config.retention ?? DEFAULT_RETENTION;
    let purging = false;
    const purge = () => {
      if (purging) return;
      purging = true;
      purgeExpired(storage, retention, new Date())
        .then((removed) => {
          if (removed.audit + removed.sessions > 0) log.info(`retention: removed ${removed.audit} audit entries older than ${retention.auditDays} days and ${removed.sessions} sessions ended over ${retention.historyDays} days ago`);
        })
        .catch((err: unknown) => log.warn(`retention: purging old rows failed: ${(err as Error).message}`))
        .finally(() => (purging = false));
    };
    const firstPurge = setTimeout(purge, RETENTION_FIRST_MS).unref();
    const purger = setInterval(purge, RETENTION_INTERVAL_MS).unref();
    started.push(() => {
      clearTimeout(firstPurge);
      clearInterval(purger);
    });
    // Live sessions' counters reach their rows regularly, not only at the end: the portal's
    // traffic chart then includes them, and a crash loses at most one interval of figures.
    const recorder = setInterval(() => recordLiveTraffic(store, broker, problems), config.trafficRecordMs ?? TRAFFIC_RECORD_MS).unref();
    started.push(() => clearInterval(recorder));
    // The rows this POP owns agree with the sessions it holds: one left open by anything (an end the
    // ledger lost, a row written by another process) is ended.
    let reconciling = false;
    const reconciler = setInterval(() => {
      if (reconciling) return;
      reconciling = true;
      reconcileSessions(store, broker, ledger)
        .then((ended) => {
          if (ended > 0) log.warn(`ended ${ended} session rows of this POP that no session of this daemon matched (pop-lost)`);
        })
        .catch((err: unknown) => problems.report("reconciling session rows", err))
        .finally(() => (reconciling = false));
    }, config.reconcileMs ?? RECONCILE_MS).unref();
    started.push(() => clearInterval(reconciler));
    log.info(
      `dtcps${pop.name === DEFAULT_POP ? "" : ` (POP ${pop.name})`} listening on ${address.address}:${address.port}` +
        (config.udpEnabled ? `, UDP tunnels from port ${config.udpBasePort}` : ", UDP tunnels off (-U enables them)"),
    );
    if ((await storage.users.count()) === 0) log.info("no users yet: add one with `npx dtcpctl user add <name>`");

    let stopping: Promise<void> | null = null;
    return { address, pop, broker, control: server, storage, db, dataPlane, metrics, api, stop: () => (stopping ??= undo()) };
  } catch (err) {
    await undo();
    throw err;
  }
}

async function reconcileSessions(store: LoginStore, broker: Broker, ledger: SessionLedger): Promise<number> {
  const open = await store.openSessionIds();
  const held = broker.heldSessionIds();
  const pending = ledger.pendingEnds();
  const strays = open.filter((id) => !held.has(id) && !pending.has(id));
  await Promise.all(strays.map((id) => ledger.end(id, "pop-lost")));
  return strays.length;
}

function recordLiveTraffic(store: LoginStore, broker: Broker, problems: ProblemLog): void {
  const rows = broker.liveView().flatMap(({ id, stats }) =>
    stats ? [{ id, counters: { bytesIn: stats.bytesIn, bytesOut: stats.bytesOut, packetsIn: stats.packetsIn, packetsOut: stats.packetsOut } }] : [],
  );
  store.recordTraffic(rows).catch((err: unknown) => {
    // Another writer holds the lock: the next round writes newer figures anyway.
    if (!isBusy(err)) problems.report("recording live sessions' traffic", err);
  });
}

// What a daemon needs besides the unauthenticated connections: its database, TUN, sockets and some sessions.
const DESCRIPTOR_RESERVE = 1024;

/** Unauthenticated connections must not be able to use up the descriptors that sessions and the API need. */
function warnIfFewDescriptors(maxUnauthenticated: number, log: Logger): void {
  let limit: number;
  try {
    limit = Number(/^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"))?.[1]);
  } catch {
    return;
  }
  if (Number.isFinite(limit) && limit < maxUnauthenticated + DESCRIPTOR_RESERVE) {
    log.warn(
      `only ${limit} file descriptors (ulimit -n) for --max-unauth ${maxUnauthenticated}: a flood of unauthenticated connections could leave none for sessions; raise LimitNOFILE or lower --max-unauth`,
    );
  }
}

const CAPABILITY_HINT =
  "; run dtcps as root or with CAP_NET_ADMIN and CAP_NET_RAW (see contrib/dtcps.service), or start it with --no-dataplane to carry no packets";

function isMetricsSource(plane: DataPlane): plane is DataPlane & MetricsSource {
  return typeof (plane as Partial<MetricsSource>).collectMetrics === "function";
}

/** The tunnel listeners' configuration, with the TLS one's certificate read or made. */
function tunnelListeners(config: DaemonConfig, log: Logger): TunnelListeners & { tls: (NonNullable<TunnelListeners["tls"]> & { fingerprint: string; description: string }) | null } {
  const { tcp, tls } = config.tunnels;
  if (!tls) return { tcp, tls: null };
  const own = { certFile: join(config.paths.dataDir, "tls.crt"), keyFile: join(config.paths.dataDir, "tls.key") };
  const given = tls.certFile !== null && tls.keyFile !== null ? { certFile: tls.certFile, keyFile: tls.keyFile } : null;
  // The self-signed certificate names what clients connect to, as far as the daemon knows it.
  const name = config.publicIpv4 ?? (config.host !== "0.0.0.0" ? config.host : hostname());
  const identity = loadOrCreateTlsIdentity(given, own, name);
  const description = identity.selfSigned
    ? `self-signed certificate ${own.certFile}; clients pin sha256 ${identity.fingerprint}`
    : `certificate ${given!.certFile}, sha256 ${identity.fingerprint}`;
  log.debug(`TLS tunnels use the ${description}`);
  return { tcp, tls: { host: tls.host, port: tls.port, cert: identity.cert, key: identity.key, fingerprint: identity.fingerprint, description } };
}

/** The pools this POP routes. */
async function poolCidrs(storage: Storage, pop: PopRef): Promise<string[]> {
  return (await storage.pools.list(pop.id)).map((p) => p.cidr);
}

async function ensureLinkPool(storage: Storage, pop: PopRef, text: string, log: Logger): Promise<void> {
  const cidr = formatPrefix6(prefixField(text, "prefix"));
  const existing = (await storage.pools.list()).find((p) => p.cidr === cidr);
  if (existing) {
    if (existing.purpose !== "link") throw new DomainError(`${cidr} is a ${existing.purpose} pool, not a link pool for host tunnels`);
    if (existing.pop !== pop.name) throw new DomainError(`${cidr} is a pool of the POP ${existing.pop}, not of ${pop.name}`);
    return;
  }
  await storage.pools.add({ cidr, purpose: "link", pop: pop.name }, { name: "dtcps" });
  log.info(`added link pool ${cidr} for host tunnels`);
}
