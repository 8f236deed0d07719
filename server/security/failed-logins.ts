// What the audit log keeps of failed DTCP logins: the first failure of an address in a window is
// written as its own entry at once (an operator sees it as it happens), and the rest of that
// window's failures from the address are counted here and written as one summary when the window
// closes. A guesser working through names costs one row per address per window, not one per guess.
// Pure bookkeeping with an injected clock; the broker writes what it is told to.

export interface FailedLoginLimits {
  /** A summary covers this long from the address's first failure. */
  windowMs: number;
  /** Addresses summarised at once; past it the oldest window is closed early. */
  maxSources: number;
  /** User names a summary names one by one; the rest are only counted. */
  maxUsersNamed: number;
}

export const DEFAULT_FAILED_LOGIN_LIMITS: FailedLoginLimits = { windowMs: 60_000, maxSources: 10_000, maxUsersNamed: 10 };

export interface FailedLogin {
  source: string;
  user: string;
  reason: string;
}

/** The failures of one address after its first in a window. */
export interface FailedLoginSummary {
  source: string;
  attempts: number;
  /** Attempts by user name, for the first `maxUsersNamed` names. */
  users: Record<string, number>;
  /** Attempts on names past those. */
  otherUsers: number;
  reasons: Record<string, number>;
  firstAt: Date;
  lastAt: Date;
}

interface Window {
  opened: number;
  summary: FailedLoginSummary | null;
}

export class FailedLoginAudit {
  // Insertion order is opening order: the oldest window is the first key.
  readonly #windows = new Map<string, Window>();
  readonly #closed: FailedLoginSummary[] = [];

  constructor(
    readonly limits: FailedLoginLimits = DEFAULT_FAILED_LOGIN_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** "entry": write this failure as an entry of its own; "counted": it goes into a later summary. */
  record(failure: FailedLogin): "entry" | "counted" {
    const now = this.now();
    const open = this.#windows.get(failure.source);
    if (open === undefined || now - open.opened >= this.limits.windowMs) {
      if (open !== undefined) this.#close(failure.source, open);
      else if (this.#windows.size >= this.limits.maxSources) {
        const [oldest, window] = this.#windows.entries().next().value!;
        this.#close(oldest, window);
      }
      this.#windows.set(failure.source, { opened: now, summary: null });
      return "entry";
    }
    const at = new Date(now);
    const s = (open.summary ??= { source: failure.source, attempts: 0, users: {}, otherUsers: 0, reasons: {}, firstAt: at, lastAt: at });
    s.attempts++;
    s.lastAt = at;
    if (failure.user in s.users) s.users[failure.user]!++;
    else if (Object.keys(s.users).length < this.limits.maxUsersNamed) s.users[failure.user] = 1;
    else s.otherUsers++;
    s.reasons[failure.reason] = (s.reasons[failure.reason] ?? 0) + 1;
    return "counted";
  }

  /** Summaries of the windows that have closed (all of them with `everything`, at shutdown), to write now. */
  take(everything = false): FailedLoginSummary[] {
    const now = this.now();
    for (const [source, window] of this.#windows) {
      if (everything || now - window.opened >= this.limits.windowMs) this.#close(source, window);
    }
    return this.#closed.splice(0);
  }

  /** Addresses with an open window. */
  get size(): number {
    return this.#windows.size;
  }

  #close(source: string, window: Window): void {
    this.#windows.delete(source);
    if (window.summary !== null) this.#closed.push(window.summary);
  }
}
