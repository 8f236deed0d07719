// Which daemon a browser's live view goes to: /api/live?pop=<name> names a POP, whose apiUrl says
// where its daemon's API is (https:// across hosts); a POP without one, or no name at all, is the
// local daemon (BROKER_API_LISTEN).
import type { IncomingMessage } from "node:http";
import type { ProxyTarget } from "./live-proxy.ts";
import { isLoopbackHost } from "../net/reachability.ts";

const DAEMON_PATH = "/live";
/** POPs are looked up again at most this often: added or changed ones are reached within seconds. */
const DIRECTORY_TTL_MS = 5_000;

/** The POP a live-view request names, or null for the local daemon. */
export function popOfRequest(req: IncomingMessage): string | null {
  const query = (req.url ?? "").split("?")[1];
  if (!query) return null;
  const pop = new URLSearchParams(query).get("pop");
  return pop === null || pop === "" ? null : pop;
}

/**
 * Where the API at `apiUrl` (http(s)://host:port) is; `local` when there is no URL. A string says
 * why it is not reached: a token in clear to another host (an http:// URL stored before such
 * URLs were refused) could be read and replayed on the way.
 */
export function targetOf(apiUrl: string | null, local: ProxyTarget, ca: Buffer | undefined): ProxyTarget | string {
  if (apiUrl === null) return local;
  const url = new URL(apiUrl);
  const tls = url.protocol === "https:";
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!tls && !isLoopbackHost(host)) return `the API URL ${apiUrl} is plain http:// to another host: give the POP an https:// one`;
  return { host, port: Number(url.port || (tls ? 443 : 80)), path: DAEMON_PATH, tls: tls ? { ca } : null };
}

/** POP names to their API URLs, read through `load` and kept for a few seconds. */
export class PopDirectory {
  #cached: Promise<Map<string, string | null>> | null = null;
  #at = 0;

  constructor(
    private readonly load: () => Promise<{ name: string; apiUrl: string | null }[]>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The POP's API URL (null: the local daemon), or undefined when there is no such POP. */
  async apiUrl(pop: string): Promise<string | null | undefined> {
    if (this.#cached === null || this.now() - this.#at > DIRECTORY_TTL_MS) {
      this.#at = this.now();
      this.#cached = this.load().then((pops) => new Map(pops.map((p) => [p.name, p.apiUrl])));
      this.#cached.catch(() => (this.#cached = null));
    }
    return (await this.#cached).get(pop);
  }
}
