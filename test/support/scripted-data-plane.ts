import type { TrafficCounters } from "../../server/domain/types.ts";
import { NoDataPlane, type TunnelStats } from "../../server/dataplane/types.ts";

/** A data plane whose per-session figures the test sets, as the packet worker's reports would. */
export class ScriptedDataPlane extends NoDataPlane {
  override readonly description = "scripted";
  readonly figures = new Map<number, TunnelStats>();
  /** What setPools was last told, for tests of the daemon's pool watch. */
  pools: readonly string[] | null = null;
  override async setPools(cidrs: readonly string[]): Promise<void> {
    this.pools = [...cidrs];
  }
  /** The session's last figures are its final counters, as the real data plane's close() gives. */
  override async close(sessionId: number): Promise<TrafficCounters | null> {
    await super.close(sessionId);
    const last = this.figures.get(sessionId);
    this.figures.delete(sessionId);
    return last ? { bytesIn: last.bytesIn, bytesOut: last.bytesOut, packetsIn: last.packetsIn, packetsOut: last.packetsOut } : null;
  }
  override stats(sessionId: number): TunnelStats | null {
    return this.figures.get(sessionId) ?? null;
  }
}

/** Figures of a session that has carried `bytes` in and twice that out, in 100 B / 50 B packets. */
export function traffic(bytes: number, binding: TunnelStats["binding"]): TunnelStats {
  return {
    bytesIn: BigInt(bytes),
    bytesOut: BigInt(2 * bytes),
    packetsIn: BigInt(bytes / 100),
    packetsOut: BigInt(bytes / 50),
    drops: { spoofedSource: 0n, wrongOuterSource: 0n, malformed: 0n, noBinding: 0n, sendFailed: 0n },
    lastPacketAt: Date.now(),
    binding,
  };
}
