// Messages between UserspaceDataPlane (main thread) and its packet worker.

import type { StreamHandover, TunnelSpec } from "./types.ts";

export interface WorkerConfig {
  tunName: string;
  mtu: number;
  txQueueLen: number;
  udpListenAddress: string;
  strictOuterSource: boolean;
  /** Opens a shared UDP socket (on 127.0.0.1) for the datagrams the firewall diverts to this worker (dtcps --no-tproxy: false). */
  sharedUdp: boolean;
  /** The packets of several sessions go out in one system call (dtcps --no-send-together: false). */
  sendTogether: boolean;
  /** The TUN passes TCP super-packets when the kernel takes them (dtcps --no-offload: false). */
  offload: boolean;
  statsIntervalMs: number;
  /** A TCP session whose client has read nothing of what waits for it for this long is ended. */
  streamStallMs: number;
  /** This worker's index, which is also its TUN queue's. */
  worker: number;
  /** How many workers share the forwarding; with more than one the TUN has a queue for each. */
  workers: number;
  /**
   * Workers after the first: the first one's steering map (an fd of this process, duplicated by
   * each worker) and whether its TUN queue took offloads (every queue has the same).
   */
  shared: { steeringFd: number; offloads: boolean } | null;
}

/** An error as it crosses the thread boundary (a cloned Error loses `code`). */
export interface ErrorInfo {
  message: string;
  code?: string;
}

/** A request the worker answers with "done" or "failed". */
export type Request =
  | { kind: "open"; spec: TunnelSpec }
  | { kind: "close"; sessionId: number }
  /** A TCP session's data connection: the worker owns `fd` from now on (and closes it, also on failure). */
  | { kind: "attach"; sessionId: number; stream: StreamHandover };

export type ToWorker = (Request & { seq: number }) | { kind: "stop" };

export type FromWorker =
  /**
   * tunName: as the kernel named it. The first worker of several also sends its steering map's fd
   * and offloads for the others, or, if the kernel refused steering, why it forwards alone.
   */
  | {
      kind: "started";
      tunName: string;
      offloads: boolean;
      steeringFd: number | null;
      alone: string | null;
      /** The port of this worker's shared UDP socket on 127.0.0.1, or why it has none. */
      sharedUdp: { port: number } | { error: string } | null;
    }
  | { kind: "startFailed"; error: ErrorInfo }
  /** open: the session's initial counters; close: its final counters, or null for an unknown id. */
  | { kind: "done"; seq: number; counters: Float64Array | null }
  | { kind: "failed"; seq: number; error: ErrorInfo }
  /** sessions: records of REPORT_RECORD fields (id, counters) of changed sessions; totals: TOTAL_FIELDS. */
  | { kind: "report"; sessions: Float64Array; totals: Float64Array }
  | { kind: "log"; level: "info" | "warn"; message: string }
  /** A TCP session's data connection ended or failed (closed by the worker): the session must end. */
  | { kind: "lost"; sessionId: number; reason: string };

export function errorInfo(err: unknown): ErrorInfo {
  const e = err as NodeJS.ErrnoException;
  return e instanceof Error ? { message: e.message, ...(e.code === undefined ? {} : { code: e.code }) } : { message: String(err) };
}

export function errorFrom(info: ErrorInfo): Error {
  return Object.assign(new Error(info.message), info.code === undefined ? {} : { code: info.code });
}

/**
 * The packet thread's nice value. The main thread and V8's helper threads (compilers, the
 * garbage collectors of every isolate) may share its core; a burst of theirs must not stall
 * forwarding long enough for the TUN and socket queues to overflow. Raising a priority needs
 * CAP_SYS_NICE or an RLIMIT_NICE that allows it (LimitNICE= in contrib/dtcps.service).
 */
export const PACKET_THREAD_NICE = -10;
