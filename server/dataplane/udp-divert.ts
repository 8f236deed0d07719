// Diverts the datagrams of UDP sessions to their packet worker's shared socket (nftables tproxy),
// so that a worker reads the datagrams of all its sessions with one recvmmsg instead of one per
// session's socket. Each session keeps its own socket: it holds the port, and it receives what
// the firewall does not divert (a port not yet in the set, traffic from the host itself, a ruleset
// flushed by someone else), so that diverting is never needed for a packet to arrive.
//
// One table per daemon (named after its TUN), one set of ports per worker and one rule per set:
//   meta l4proto udp fib daddr type local [ip daddr <listen>] udp dport @w<k> tproxy to 127.0.0.1:<port of worker k>
// Sessions come and go in batches: ports added and removed within a few milliseconds of each other
// go in one `nft -f -` run. A run that fails is followed by one that writes the whole table afresh.
// A table left by a daemon killed before its stop is replaced at the next start; until then its
// rules divert to sockets that no longer exist, which tproxy skips, so datagrams reach the
// sessions' own sockets.

import { execFile } from "node:child_process";
import type { Logger } from "../log.ts";

/** Runs an nft script atomically (`nft -f -`); rejects with nft's message. */
export type NftRunner = (script: string) => Promise<void>;

export const runNft: NftRunner = (script) =>
  new Promise((resolve, reject) => {
    const child = execFile("nft", ["-f", "-"], { timeout: 10_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`nft: ${stderr.trim() || err.message}`));
      else resolve();
    });
    child.stdin!.end(script);
  });

/** How long port changes wait for others to join their nft run. */
const BATCH_MS = 20;

export interface UdpDivertOptions {
  /** The TUN's name: the table is dtcp_<name> (other characters than letters, digits and _ as _). */
  tunName: string;
  /** Port of each worker's shared socket on 127.0.0.1, by worker index. */
  workerPorts: readonly number[];
  /** The address the sessions' sockets are bound on; 0.0.0.0: every local address. */
  listenAddress: string;
  log: Logger;
  run?: NftRunner;
}

export class UdpDivert {
  readonly table: string;
  readonly #workerPorts: readonly number[];
  readonly #listen: string;
  readonly #log: Logger;
  readonly #run: NftRunner;
  /** Port → worker, as the table should hold it. */
  readonly #ports = new Map<number, number>();
  /** Changes not yet run: [port, worker, add]. */
  #pending: [number, number, boolean][] = [];
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(opts: UdpDivertOptions) {
    this.table = `dtcp_${opts.tunName.replace(/[^A-Za-z0-9_]/g, "_")}`;
    this.#workerPorts = opts.workerPorts;
    this.#listen = opts.listenAddress;
    this.#log = opts.log;
    this.#run = opts.run ?? runNft;
  }

  /** Writes the table (replacing one left behind); rejects if nft, tproxy or the permission is missing. */
  async start(): Promise<void> {
    await this.#run(this.#script());
  }

  /** Diverts the port's datagrams to the worker's socket, with the next batch. */
  add(port: number, worker: number): void {
    this.#ports.set(port, worker);
    this.#change(port, worker, true);
  }

  /** Stops diverting the port, with the next batch. */
  remove(port: number): void {
    const worker = this.#ports.get(port);
    if (worker === undefined) return;
    this.#ports.delete(port);
    this.#change(port, worker, false);
  }

  /** Resolves once every change made so far is in the table (or failed and was logged). */
  settled(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
      this.#flush();
    }
    return this.#running;
  }

  /** Removes the table. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pending = [];
    await this.#running;
    await this.#run(`delete table ip ${this.table}\n`).catch((err: Error) => this.#log.warn(`cannot remove nftables table ${this.table}: ${err.message}`));
  }

  #change(port: number, worker: number, add: boolean): void {
    if (this.#stopped) return;
    this.#pending.push([port, worker, add]);
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      this.#flush();
    }, BATCH_MS);
  }

  #flush(): void {
    const changes = this.#pending;
    this.#pending = [];
    if (changes.length === 0) return;
    const script = changes.map(([port, worker, add]) => `${add ? "add" : "delete"} element ip ${this.table} w${worker} { ${port} }\n`).join("");
    this.#running = this.#running.then(() =>
      this.#run(script).catch(async (err: Error) => {
        if (this.#stopped) return;
        this.#log.warn(`nftables: ${err.message}; writing table ${this.table} afresh`);
        await this.#run(this.#script()).catch((again: Error) =>
          this.#log.warn(`nftables: ${again.message}; the UDP sessions' own sockets receive meanwhile`),
        );
      }),
    );
  }

  /** The whole table as it should be now, replacing any of that name. */
  #script(): string {
    const t = this.table;
    const lines = [`table ip ${t} {}`, `delete table ip ${t}`, `table ip ${t} {`];
    this.#workerPorts.forEach((_, k) => {
      const ports = [...this.#ports].filter(([, w]) => w === k).map(([p]) => p);
      lines.push(`  set w${k} {`, "    type inet_service", ...(ports.length > 0 ? [`    elements = { ${ports.join(", ")} }`] : []), "  }");
    });
    lines.push("  chain divert {", "    type filter hook prerouting priority mangle; policy accept;");
    const daddr = this.#listen === "0.0.0.0" ? "" : ` ip daddr ${this.#listen}`;
    this.#workerPorts.forEach((port, k) => lines.push(`    meta l4proto udp fib daddr type local${daddr} udp dport @w${k} counter tproxy to 127.0.0.1:${port}`));
    lines.push("  }", "}");
    return `${lines.join("\n")}\n`;
  }
}
