/** Line-oriented logging to stdout/stderr. Never pass a password or a response hash. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export function consoleLogger(verbose: boolean): Logger {
  const stamp = () => new Date().toISOString();
  return {
    info: (m) => process.stdout.write(`${stamp()} ${printable(m)}\n`),
    warn: (m) => process.stderr.write(`${stamp()} warning: ${printable(m)}\n`),
    debug: verbose ? (m) => process.stdout.write(`${stamp()} debug: ${printable(m)}\n`) : () => {},
  };
}

// C0 controls but tab and newline, DEL, C1 controls (0x9b is a terminal's CSI too).
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/**
 * A message as it may reach a terminal or a log file: control bytes a peer sent (ESC sequences, BEL,
 * a CR that rewinds the line) are written as \xNN, so that they can neither rewrite what was printed
 * nor pass for a line of ours. Peers' lines never hold a newline (they are split on it).
 */
export function printable(message: string): string {
  return message.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** Lines a peer causes, per second, and how many may come at once. */
export const PEER_LINES_PER_SECOND = 5;
export const PEER_LINES_BURST = 20;

/**
 * A budget for log lines a peer can cause at will: a few a second (a token bucket), the rest only
 * counted, and the count said with the next line allowed, or at flush().
 */
export class LineBudget {
  #tokens: number;
  #at: number;
  #skipped = 0;

  constructor(
    private readonly reportSkipped: (count: number) => void,
    private readonly perSecond = PEER_LINES_PER_SECOND,
    private readonly burst = PEER_LINES_BURST,
    private readonly now: () => number = Date.now,
  ) {
    this.#tokens = burst;
    this.#at = now();
  }

  /** True when one more line may be logged; false counts it as skipped. */
  take(): boolean {
    const now = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
    this.#at = now;
    if (this.#tokens < 1) {
      this.#skipped++;
      return false;
    }
    this.#tokens -= 1;
    this.flush();
    return true;
  }

  /** Says how many lines were skipped since the last time, if any. */
  flush(): void {
    if (this.#skipped === 0) return;
    const skipped = this.#skipped;
    this.#skipped = 0;
    this.reportSkipped(skipped);
  }
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
