// One daemon per POP and database. On SQLite the database is on this machine, and so is any
// second daemon: an abstract socket named after the file and the POP. On PostgreSQL the other
// daemon may be anywhere: a session-level advisory lock, held by a connection of its own and taken
// again if that connection is lost (during an outage nobody can take it, since nobody can connect).
import { hostname } from "node:os";
import pg from "pg";
import { holdInstanceLock, InstanceLockedError, lockName } from "../launch/instance-lock.ts";
import type { Logger } from "../log.ts";
import { parseDatabaseUrl } from "./database-url.ts";

export interface PopLock {
  release(): Promise<void>;
}

/** Any constant, apart from the migrations' lock: the first key of the two-key advisory lock. */
const POP_LOCK_CLASS = 0x44544350;
const RECONNECT_MS = 2_000;

/** Takes the POP's lock before anything of it is touched, or throws InstanceLockedError naming the holder. */
export async function holdPopLock(databaseUrl: string, pop: string, log: Logger): Promise<PopLock> {
  const target = parseDatabaseUrl(databaseUrl);
  const describe = `the POP ${pop} of ${target.engine === "sqlite" ? target.file : "this PostgreSQL database"}`;
  if (target.engine === "sqlite") return holdInstanceLock(lockName(`pop/${pop}`, target.file), describe);
  return PostgresPopLock.take(target.url, pop, describe, log);
}

class PostgresPopLock implements PopLock {
  #client: pg.Client | null = null;
  #released = false;
  #retry: NodeJS.Timeout | null = null;

  private constructor(
    private readonly url: string,
    private readonly pop: string,
    private readonly describe: string,
    private readonly log: Logger,
  ) {}

  static async take(url: string, pop: string, describe: string, log: Logger): Promise<PostgresPopLock> {
    const lock = new PostgresPopLock(url, pop, describe, log);
    await lock.#acquire();
    return lock;
  }

  async release(): Promise<void> {
    this.#released = true;
    if (this.#retry) clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = null;
    // Ending the connection ends its session, and the lock with it.
    await client?.end().catch(() => {});
  }

  async #acquire(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: `dtcps pid ${process.pid} on ${hostname()}`.slice(0, 63) });
    client.on("error", () => {});
    await client.connect();
    try {
      const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok", [POP_LOCK_CLASS, this.pop]);
      if (!rows[0]?.ok) {
        const holder = await client.query<{ pid: number; application_name: string; client_addr: string | null }>(
          `SELECT a.pid, a.application_name, a.client_addr::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1 AND l.objid::bigint = (hashtext($2)::bigint & 4294967295)`,
          [POP_LOCK_CLASS, this.pop],
        );
        const who = holder.rows[0];
        const name = who ? `${who.application_name || `a connection (server pid ${who.pid})`}${who.client_addr ? ` from ${who.client_addr}` : ""}` : "another daemon";
        throw new InstanceLockedError(`${this.describe} is already in use by ${name}`, []);
      }
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    this.#client = client;
    client.once("end", () => this.#lost());
  }

  #lost(): void {
    if (this.#released) return;
    this.#client = null;
    this.log.warn(`lost the database connection holding ${this.describe}; taking it again`);
    const again = () => {
      this.#retry = null;
      if (this.#released) return;
      this.#acquire().then(
        () => this.log.info(`holding ${this.describe} again`),
        (err: unknown) => {
          if (err instanceof InstanceLockedError) this.log.warn(`${err.message}: two daemons now serve this POP; stop one of them`);
          this.#retry = setTimeout(again, RECONNECT_MS).unref();
        },
      );
    };
    this.#retry = setTimeout(again, RECONNECT_MS).unref();
  }
}
