/** Line-oriented logging to stdout/stderr. Never pass a password or a response hash. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export function consoleLogger(verbose: boolean): Logger {
  const stamp = () => new Date().toISOString();
  return {
    info: (m) => process.stdout.write(`${stamp()} ${m}\n`),
    warn: (m) => process.stderr.write(`${stamp()} warning: ${m}\n`),
    debug: verbose ? (m) => process.stdout.write(`${stamp()} debug: ${m}\n`) : () => {},
  };
}

export const silentLogger: Logger = { info: () => {}, warn: () => {}, debug: () => {} };

/** A peer's text for a log line: quoted, and cut at `max` characters (how many more there were is said). */
export function peerText(text: string, max = 64): string {
  return text.length <= max ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, max))}… (${text.length} characters)`;
}

/** How often ProblemLog says how many more of each cause it kept quiet. */
export const PROBLEM_SUMMARY_MS = 60_000;
/** Causes told apart per interval; beyond these, the rest are counted under one. */
const MAX_CAUSES = 32;

/**
 * Failures that come in floods (every login while the disk is full or the database is down) as one
 * line per cause: the first at once, then how many more each interval. A cause is the error's code
 * when it has one (SQLITE_FULL, ECONNREFUSED), else its message.
 */
export class ProblemLog {
  readonly #counts = new Map<string, { what: string; more: number }>();
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = PROBLEM_SUMMARY_MS,
  ) {}

  report(what: string, err: unknown): void {
    const cause = causeOf(err);
    const key = `${what}\0${this.#counts.size >= MAX_CAUSES && !this.#counts.has(`${what}\0${cause}`) ? "other causes" : cause}`;
    const seen = this.#counts.get(key);
    if (seen) {
      seen.more++;
      return;
    }
    this.#counts.set(key, { what, more: 0 });
    this.log.warn(`${what}: ${describeError(err)}`);
    if (err instanceof Error && err.stack && !hasCode(err)) this.log.debug(err.stack);
    this.#timer ??= setTimeout(() => this.flush(), this.intervalMs).unref();
  }

  /** Says that what failed works again. */
  recovered(what: string): void {
    this.log.info(`${what}: working again`);
  }

  /** Says the counts kept so far and starts a new interval. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const [key, { what, more }] of this.#counts) {
      if (more > 0) this.log.warn(`${what}: ${more} more in the last ${Math.round(this.intervalMs / 1000)} s (${key.slice(key.indexOf("\0") + 1)})`);
    }
    this.#counts.clear();
  }
}

function hasCode(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code !== "";
}

function causeOf(err: unknown): string {
  if (hasCode(err)) return (err as { code: string }).code;
  return (err instanceof Error ? err.message : String(err)).split("\n", 1)[0]!.slice(0, 200);
}

/** An error as one line: its message, and its code where the message leaves it out. */
export function describeError(err: unknown): string {
  const message = (err instanceof Error ? err.message : String(err)).split("\n", 1)[0]!.slice(0, 500);
  if (!hasCode(err)) return message;
  const code = (err as { code: string }).code;
  return message.includes(code) ? message : `${message} (${code})`;
}
