// When the launcher starts a child again after it died: back-off from a second, doubling, and no
// more than a few restarts a minute, so that a child that dies at once does not spin.

export interface RestartLimits {
  baseMs: number;
  maxMs: number;
  /** A child that stayed up this long starts the back-off over. */
  stableMs: number;
  /** At most `perWindow` restarts in any `windowMs`. */
  perWindow: number;
  windowMs: number;
}

export const DEFAULT_RESTART_LIMITS: RestartLimits = { baseMs: 1_000, maxMs: 30_000, stableMs: 60_000, perWindow: 5, windowMs: 60_000 };

export class RestartSchedule {
  #attempt = 0;
  /** When the restarts within the last window happen(ed). */
  #restarts: number[] = [];

  constructor(private readonly limits: RestartLimits = DEFAULT_RESTART_LIMITS) {}

  /** How long to wait before starting again a child that died at `now` after `upMs` up. */
  next(upMs: number, now: number): number {
    const { baseMs, maxMs, stableMs, perWindow, windowMs } = this.limits;
    if (upMs >= stableMs) this.#attempt = 0;
    let delay = Math.min(maxMs, baseMs * 2 ** Math.min(this.#attempt++, 30));
    this.#restarts = this.#restarts.filter((at) => at > now - windowMs);
    if (this.#restarts.length >= perWindow) delay = Math.max(delay, this.#restarts[this.#restarts.length - perWindow]! + windowMs - now);
    this.#restarts.push(now + delay);
    return delay;
  }

  /** Restarts counted in the window ending at `now`, the one being scheduled included. */
  inWindow(now: number): number {
    return this.#restarts.filter((at) => at > now - this.limits.windowMs).length;
  }
}
