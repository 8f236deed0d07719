// The data plane's figures as Prometheus metric families.
//
// Cardinality: the daemon-wide families have fixed label sets (2 transports × 2 directions, 5
// drop reasons, 3 uncharged reasons, 3 series per packet worker). Per live session there are 10 series (packets and bytes in
// each direction, 5 drop reasons, the last packet time once there is one), labelled by session
// id and user name; a session's series disappear when it ends. 1,000 live sessions make about
// 10,000 series per scrape, and each reconnection starts new series (new session id).

import type { MetricFamily, Sample } from "../metrics/exposition.ts";
import {
  BLOCK_COUNTERS,
  BLOCK_SESSIONS,
  BYTES_IN,
  BYTES_OUT,
  DROP_REASONS,
  DROPS,
  KEEPALIVES,
  LAST_PACKET_AT,
  MALFORMED_UNCHARGED,
  MULTICAST,
  TUN_SEGMENTS_READ,
  TUN_SEGMENTS_WRITTEN,
  TUN_SUPER_READ,
  TUN_SUPER_WRITTEN,
  NO_ROUTE,
  PACKETS_IN,
  PACKETS_OUT,
  transportBlock,
  TRANSPORTS,
  UDP_COALESCED_DATAGRAMS,
  UDP_COALESCED_READS,
  UDP_DIVERTED,
  UNKNOWN_SOURCE,
} from "./counters.ts";

export interface SessionFigures {
  sessionId: number;
  userName: string;
  counters: Float64Array;
}

const DIRECTIONS = [
  ["in", PACKETS_IN, BYTES_IN],
  ["out", PACKETS_OUT, BYTES_OUT],
] as const;

const DIRECTION_HELP = "in = from the client into the TUN, out = to the client";

/**
 * totals: the daemon's figures (the sum of its packet workers'); workers: each packet worker's
 * own, for the balance between them.
 */
export function dataPlaneMetrics(totals: Float64Array, sessions: readonly SessionFigures[], workers: readonly Float64Array[] = []): MetricFamily[] {
  const overTransports = (w: Float64Array, field: number) => TRANSPORTS.reduce((sum, t) => sum + w[transportBlock(t) + field]!, 0);
  const perTransport = (f: (block: number) => Sample[]): Sample[] => TRANSPORTS.flatMap((t) => f(transportBlock(t)).map((s) => ({ ...s, labels: { transport: t, ...s.labels } })));
  const sessionLabels = (s: SessionFigures): Record<string, string> => ({ session: String(s.sessionId), user: s.userName });
  return [
    {
      name: "dtcp_dataplane_sessions",
      help: "Live tunnel sessions.",
      type: "gauge",
      samples: perTransport((b) => [{ value: totals[b + BLOCK_SESSIONS]! }]),
    },
    {
      name: "dtcp_dataplane_packets_total",
      help: `IPv6 packets carried since start (${DIRECTION_HELP}).`,
      type: "counter",
      samples: perTransport((b) => DIRECTIONS.map(([direction, p]) => ({ labels: { direction }, value: totals[b + BLOCK_COUNTERS + p]! }))),
    },
    {
      name: "dtcp_dataplane_bytes_total",
      help: `Bytes of IPv6 packets carried since start (${DIRECTION_HELP}).`,
      type: "counter",
      samples: perTransport((b) => DIRECTIONS.map(([direction, , bytes]) => ({ labels: { direction }, value: totals[b + BLOCK_COUNTERS + bytes]! }))),
    },
    {
      name: "dtcp_dataplane_drops_total",
      help: "Packets of sessions dropped since start, by reason.",
      type: "counter",
      samples: perTransport((b) => DROP_REASONS.map((reason, i) => ({ labels: { reason }, value: totals[b + BLOCK_COUNTERS + DROPS + i]! }))),
    },
    {
      name: "dtcp_dataplane_uncharged_drops_total",
      help: "Packets dropped that belong to no session: noRoute (from the TUN to no live session), unknownSource (protocol 41 from a stranger, or UDP to a port no session has), malformed.",
      type: "counter",
      samples: [
        { labels: { reason: "noRoute" }, value: totals[NO_ROUTE]! },
        { labels: { reason: "unknownSource" }, value: totals[UNKNOWN_SOURCE]! },
        { labels: { reason: "malformed" }, value: totals[MALFORMED_UNCHARGED]! },
      ],
    },
    {
      name: "dtcp_dataplane_host_multicast_total",
      help: "Multicast the host sent onto the TUN (its neighbour discovery and MLD), which no session receives.",
      type: "counter",
      samples: [{ value: totals[MULTICAST]! }],
    },
    {
      name: "dtcp_dataplane_tun_super_packets_total",
      help: "TCP super-packets of up to 64 KB the TUN handed over (read) and took (write) with its offloads on.",
      type: "counter",
      samples: [
        { labels: { direction: "read" }, value: totals[TUN_SUPER_READ]! },
        { labels: { direction: "write" }, value: totals[TUN_SUPER_WRITTEN]! },
      ],
    },
    {
      name: "dtcp_dataplane_tun_super_segments_total",
      help: "Packets split from super-packets read from the TUN (read), and joined into super-packets written to it (write).",
      type: "counter",
      samples: [
        { labels: { direction: "read" }, value: totals[TUN_SEGMENTS_READ]! },
        { labels: { direction: "write" }, value: totals[TUN_SEGMENTS_WRITTEN]! },
      ],
    },
    {
      name: "dtcp_dataplane_udp_diverted_total",
      help: "UDP datagrams of any session read from a packet worker's shared socket, where nftables diverted them (tproxy), rather than from the session's own.",
      type: "counter",
      samples: [{ value: totals[UDP_DIVERTED]! }],
    },
    {
      name: "dtcp_dataplane_udp_coalesced_total",
      help: "Reads of the shared sockets that carried a run of one peer's datagrams (reads), and the datagrams in them (datagrams): UDP receive offload.",
      type: "counter",
      samples: [
        { labels: { what: "reads" }, value: totals[UDP_COALESCED_READS]! },
        { labels: { what: "datagrams" }, value: totals[UDP_COALESCED_DATAGRAMS]! },
      ],
    },
    {
      name: "dtcp_dataplane_worker_sessions",
      help: "Live tunnel sessions of each packet worker (each has a TUN queue and its sessions' sockets).",
      type: "gauge",
      samples: workers.map((w, i) => ({ labels: { worker: String(i) }, value: overTransports(w, BLOCK_SESSIONS) })),
    },
    {
      name: "dtcp_dataplane_worker_packets_total",
      help: `IPv6 packets each packet worker carried since start (${DIRECTION_HELP}).`,
      type: "counter",
      samples: workers.flatMap((w, i) => DIRECTIONS.map(([direction, p]) => ({ labels: { worker: String(i), direction }, value: overTransports(w, BLOCK_COUNTERS + p) }))),
    },
    {
      name: "dtcp_dataplane_keepalives_total",
      help: "Empty UDP datagrams accepted as NAT keepalives.",
      type: "counter",
      samples: [{ value: totals[KEEPALIVES]! }],
    },
    {
      name: "dtcp_session_packets_total",
      help: `IPv6 packets of a live session (${DIRECTION_HELP}).`,
      type: "counter",
      samples: sessions.flatMap((s) => DIRECTIONS.map(([direction, p]) => ({ labels: { ...sessionLabels(s), direction }, value: s.counters[p]! }))),
    },
    {
      name: "dtcp_session_bytes_total",
      help: `Bytes of IPv6 packets of a live session (${DIRECTION_HELP}).`,
      type: "counter",
      samples: sessions.flatMap((s) => DIRECTIONS.map(([direction, , bytes]) => ({ labels: { ...sessionLabels(s), direction }, value: s.counters[bytes]! }))),
    },
    {
      name: "dtcp_session_drops_total",
      help: "Dropped packets of a live session, by reason.",
      type: "counter",
      samples: sessions.flatMap((s) => DROP_REASONS.map((reason, i) => ({ labels: { ...sessionLabels(s), reason }, value: s.counters[DROPS + i]! }))),
    },
    {
      name: "dtcp_session_last_packet_timestamp_seconds",
      help: "When a live session's client last sent an accepted packet or keepalive (Unix time).",
      type: "gauge",
      samples: sessions.filter((s) => s.counters[LAST_PACKET_AT]! >= 0).map((s) => ({ labels: sessionLabels(s), value: s.counters[LAST_PACKET_AT]! / 1000 })),
    },
  ];
}
