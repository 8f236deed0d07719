// Reconnect schedule of `dtcpc -l`: exponential from BASE_MS, capped at MAX_MS, reset once a
// session stayed up STABLE_MS. Each delay is scaled by 75–100 % at random so that the clients of
// a restarted broker do not all come back in the same second.

export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_MAX_MS = 120_000;
export const STABLE_SESSION_MS = 60_000;

/** The wait before reconnection attempt `attempt` (0 = the first after a loss). */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling * (0.75 + 0.25 * random()));
}

export class Backoff {
  #attempt = 0;

  constructor(private readonly random: () => number = Math.random) {}

  /** The wait after a session that was up for `upMs` (null: it never came up). */
  next(upMs: number | null): number {
    if (upMs !== null && upMs >= STABLE_SESSION_MS) this.#attempt = 0;
    return reconnectDelay(this.#attempt++, this.random);
  }

  /** After an explicit reconnect (SIGHUP): start the schedule again. */
  reset(): void {
    this.#attempt = 0;
  }
}
