// Connections counted per address and in all (UnauthenticatedConnections), with what every
// listener does at the limits: refuse past an address's share, close the oldest of the busiest
// address past the total, count both, and report each at most once a minute per address so that a
// flood cannot flood the log or the audit log too. The DTCP port, the web app and the daemon's HTTP
// listeners all count their connections through this.
import { RefusalReports } from "./abuse.ts";
import { UnauthenticatedConnections, type AdmissionLimits } from "./admission.ts";

/** Told of the first refusal of an address, and the first eviction, in a minute. */
export interface AdmissionReporter {
  refused(address: string): void;
  evicting(): void;
}

export class CountedConnections<T extends { destroy(): void }> {
  readonly #pool: UnauthenticatedConnections<T>;
  readonly #reports: RefusalReports;
  /** Refused because their address held its share, and closed to make room. */
  readonly cut = { perAddress: 0, evicted: 0 };

  constructor(
    readonly limits: AdmissionLimits,
    private readonly reporter: AdmissionReporter,
    now: () => number = Date.now,
  ) {
    this.#pool = new UnauthenticatedConnections(limits);
    this.#reports = new RefusalReports(now);
  }

  get size(): number {
    return this.#pool.size;
  }

  /** Counts the connection (closing another to make room if need be); false: refused, its address holds its share. */
  admit(address: string, connection: T): boolean {
    const admission = this.#pool.admit(address, connection);
    if (!admission.admitted) {
      this.cut.perAddress++;
      if (this.#reports.due(address)) this.reporter.refused(address);
      return false;
    }
    if (admission.evicted) {
      this.cut.evicted++;
      if (this.#reports.due("\u0000evicted")) this.reporter.evicting();
      admission.evicted.destroy();
    }
    return true;
  }

  /** It no longer counts (authenticated, answered, closed). Releasing twice is harmless. */
  release(connection: T): void {
    this.#pool.release(connection);
  }

  /** Forgets old refusal reports; called now and then. */
  sweep(): void {
    this.#reports.sweep();
  }
}
