// Whether the web app's database answers, asked every few seconds in the background. While it does
// not, pages get a 503 that says so (and that the broker recovers by itself) instead of Next's
// generic error page; static files are still served.
import type { IncomingMessage, ServerResponse } from "node:http";
import { describeError } from "../log.ts";

export const HEALTH_PROBE_MS = 2_000;
/** How long a probe may take before the database counts as unavailable. */
const PROBE_TIMEOUT_MS = 5_000;

export class DatabaseHealth {
  #problem: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #probing = false;

  constructor(
    private readonly probe: () => Promise<void>,
    private readonly log: (message: string) => void,
    private readonly intervalMs = HEALTH_PROBE_MS,
  ) {}

  /** Why the database is unavailable, or null while it answers. */
  get problem(): string | null {
    return this.#problem;
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.check(), this.intervalMs).unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async check(): Promise<void> {
    if (this.#probing) return;
    this.#probing = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.probe(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`)), PROBE_TIMEOUT_MS)))]);
      if (this.#problem !== null) this.log("the database answers again");
      this.#problem = null;
    } catch (err) {
      if (this.#problem === null) this.log(`the database is unavailable (${describeError(err)}): pages answer 503 until it is back`);
      this.#problem = describeError(err);
    } finally {
      clearTimeout(timer);
      this.#probing = false;
    }
  }
}

/** Requests that need no database: Next's static files and the icon. */
export function isStatic(req: IncomingMessage): boolean {
  const path = (req.url ?? "/").split("?", 1)[0]!;
  return path.startsWith("/_next/static/") || path === "/icon.svg" || path === "/favicon.ico";
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Database unavailable · Tunnel broker</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}</style></head>
<body><h1>The broker's database is unavailable</h1>
<p>The web pages need it, so they cannot be shown right now. Tunnels that are up keep running, and the
broker recovers by itself as soon as the database is back: there is nothing to restart.</p>
<p>Try again in a minute.</p></body></html>
`;

/** The 503 answer while the database is unavailable. */
export function unavailable(res: ServerResponse): void {
  res.writeHead(503, { "content-type": "text/html; charset=utf-8", "retry-after": "30", "cache-control": "no-store" });
  res.end(PAGE);
}
