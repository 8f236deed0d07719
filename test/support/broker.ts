import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolvePaths } from "../../server/config.ts";
import { DEFAULT_ABUSE_LIMITS, type AbuseLimits } from "../../server/control/abuse.ts";
import { DEFAULT_TIMEOUTS, type ControlTimeouts } from "../../server/control/connection.ts";
import { startDaemon, type Daemon, type DaemonConfig, type PopIdentity } from "../../server/daemon.ts";
import { DEFAULT_POP } from "../../server/repositories/pops/schema.ts";
import { NoDataPlane, type DataPlane } from "../../server/dataplane/types.ts";
import { silentLogger } from "../../server/log.ts";
import type { NewPool } from "../../server/repositories/pools/schema.ts";
import type { UserRepository } from "../../server/repositories/users/repository.ts";
import { hashToken } from "../../server/secrets/token.ts";
import { scratchDatabaseUrl } from "./engine.ts";
import type { NewUser } from "../../server/repositories/users/schema.ts";

/** A scratch data directory, removed by cleanup(). */
export function tempDataDir(): { dir: string; env: NodeJS.ProcessEnv; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "dtcp-test-"));
  return {
    dir,
    env: { ...process.env, BROKER_DATA_DIR: dir, DATABASE_URL: scratchDatabaseUrl(dir) },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TestBrokerOptions {
  udpEnabled?: boolean;
  timeouts?: Partial<ControlTimeouts>;
  abuse?: Partial<AbuseLimits>;
  publicIpv4?: string | null;
  linkPrefix?: string | null;
  /** Default: none (--no-dataplane). Gets the pools the daemon routes. */
  dataPlane?: (pools: readonly string[]) => DataPlane;
  /** Another POP's daemon on the same database and keys: the broker whose data it shares. */
  sharing?: TestBroker;
  trafficRecordMs?: number;
  reconcileMs?: number;
  revocationCheckMs?: number;
  attachTimeoutMs?: number;
  loginRate?: DaemonConfig["loginRate"];
  /** IPv6 over TCP listeners; default none. */
  tunnels?: DaemonConfig["tunnels"];
  /** Default: the POP "default", others taken for dead after 30 s of silence. */
  pop?: Partial<PopIdentity>;
}

/**
 * A daemon on 127.0.0.1 (ephemeral port) over a temporary database, with factories for the
 * users and pools a test needs. restart() stops and starts it on the same data.
 */
export class TestBroker {
  daemon!: Daemon;
  readonly data: ReturnType<typeof tempDataDir>;
  readonly config: DaemonConfig;
  readonly #ownsData: boolean;

  private constructor(options: TestBrokerOptions) {
    this.data = options.sharing?.data ?? tempDataDir();
    this.#ownsData = options.sharing === undefined;
    this.config = {
      paths: resolvePaths(this.data.env),
      strictOuterSource: true,
      tunnels: options.tunnels ?? { tcp: null, tls: null },
      attachTimeoutMs: options.attachTimeoutMs,
      loginRate: options.loginRate,
      pop: { name: DEFAULT_POP, apiUrl: null, lostAfterMs: 30_000, ...options.pop },
      host: "127.0.0.1",
      port: 0,
      udpEnabled: options.udpEnabled ?? false,
      udpBasePort: 4028,
      publicIpv4: options.publicIpv4 ?? null,
      linkPrefix: options.linkPrefix ?? null,
      timeouts: { ...DEFAULT_TIMEOUTS, ...options.timeouts },
      abuse: { ...DEFAULT_ABUSE_LIMITS, ...options.abuse },
      dataPlane: options.dataPlane ?? (() => new NoDataPlane()),
      metrics: null,
      api: null,
      trafficRecordMs: options.trafficRecordMs,
      reconcileMs: options.reconcileMs,
      revocationCheckMs: options.revocationCheckMs,
    };
  }

  static async start(options: TestBrokerOptions = {}): Promise<TestBroker> {
    const broker = new TestBroker(options);
    broker.daemon = await startDaemon(broker.config, silentLogger);
    return broker;
  }

  get port(): number {
    return this.daemon.address.port;
  }

  get db() {
    return this.daemon.db;
  }

  get storage() {
    return this.daemon.storage;
  }

  users(): UserRepository {
    return this.storage.users;
  }

  async user(name: string, extra: Partial<NewUser> = {}): Promise<{ name: string; password: string }> {
    const { tunnelPassword } = await this.users().create({ name, ...extra }, { name: "test" });
    return { name, password: tunnelPassword };
  }

  /** Signs `name` in to the web app (creating the user with `role` if need be); returns the WebSession id a live token names. */
  async signedIn(name: string, role: "admin" | "user" = "user"): Promise<string> {
    const existing = await this.db.user.findUnique({ where: { name } });
    const user = existing ?? (await this.users().create({ name, role }, { name: "test" }), await this.db.user.findUniqueOrThrow({ where: { name } }));
    const { token } = await this.storage.webSessions.start(user, "test", "127.0.0.1");
    return hashToken(token);
  }

  pool(input: NewPool) {
    return this.storage.pools.add(input, { name: "test" });
  }

  /** Stops cleanly and starts again on the same data and port, with `changes` to its configuration. */
  async restart(port = this.port, changes: Partial<DaemonConfig> = {}): Promise<void> {
    await this.daemon.stop();
    this.daemon = await startDaemon({ ...this.config, port, ...changes }, silentLogger);
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
    if (this.#ownsData) this.data.cleanup();
  }
}
