// Counter layouts shared by the packet worker and the main thread. Counters are float64 (exact to
// 2^53, i.e. 9 PB), kept in typed arrays so that the hot path adds to array elements and a report
// is one transferable buffer instead of thousands of objects.
//
// "in" is client → broker (out of the tunnel, into the TUN); "out" is broker → client.

import { TRANSPORTS, type TrafficCounters, type Transport } from "../domain/types.ts";
import { uint32ToIpv4 } from "./native.ts";
import type { DropReason, TunnelStats } from "./types.ts";

export const DROP_REASONS = [
  "spoofedSource",
  "wrongOuterSource",
  "malformed",
  "noBinding",
  "sendFailed",
] as const satisfies readonly DropReason[];
// Fails to compile when a DropReason is missing above.
const allReasonsListed: Exclude<DropReason, (typeof DROP_REASONS)[number]> extends never ? true : never = true;
void allReasonsListed;

/** Fields of one session's counters. */
export const PACKETS_IN = 0;
export const BYTES_IN = 1;
export const PACKETS_OUT = 2;
export const BYTES_OUT = 3;
/** Drops by reason: field DROPS + DROP_REASONS.indexOf(reason). */
export const DROPS = 4;
export const DROP_SPOOFED_SOURCE = 4;
export const DROP_WRONG_OUTER_SOURCE = 5;
export const DROP_MALFORMED = 6;
export const DROP_NO_BINDING = 7;
export const DROP_SEND_FAILED = 8;
/** Epoch ms of the last accepted packet from the client; -1 before the first. */
export const LAST_PACKET_AT = 9;
/** Where packets for the client go: IPv4 as uint32 and UDP port; -1 when unknown / not UDP. */
export const BINDING_ADDRESS = 10;
export const BINDING_PORT = 11;
export const SESSION_FIELDS = 12;

export type DropField = typeof DROP_SPOOFED_SOURCE | typeof DROP_WRONG_OUTER_SOURCE | typeof DROP_MALFORMED | typeof DROP_NO_BINDING | typeof DROP_SEND_FAILED;

export { TRANSPORTS } from "../domain/types.ts";
export type TransportName = Transport;

/**
 * Daemon-wide figures. One block per transport (transportBlock): live sessions, then the
 * session fields PACKETS_IN … DROP_SEND_FAILED summed over live and ended sessions. Then the
 * packets no session can be charged with.
 */
export const BLOCK_SESSIONS = 0;
export const BLOCK_COUNTERS = 1;
const BLOCK_FIELDS = BLOCK_COUNTERS + DROPS + DROP_REASONS.length;
const UNCHARGED = TRANSPORTS.length * BLOCK_FIELDS;
/** From the TUN to a destination no live session owns. */
export const NO_ROUTE = UNCHARGED;
/** Protocol 41 from an IPv4 address that has no session and carrying no session's address; UDP diverted to a shared socket for a port no session has. */
export const UNKNOWN_SOURCE = UNCHARGED + 1;
/** Not IPv6, truncated or too big for a receive slot, with no session to charge (read from the TUN, or proto 41). */
export const MALFORMED_UNCHARGED = UNCHARGED + 2;
/** Empty UDP datagrams accepted as NAT keepalives (not counted as packets). */
export const KEEPALIVES = UNCHARGED + 3;
/**
 * Multicast from the host onto the TUN (its own neighbour discovery and MLD reports): no session
 * receives it, a point-to-multipoint link has no multicast, and it is not traffic for noRoute.
 */
export const MULTICAST = UNCHARGED + 4;
/** TUN offloads (TunDevice.offloadStats): super-packets read and the segments split from them, super-packets written and the segments joined into them. */
export const TUN_SUPER_READ = UNCHARGED + 5;
export const TUN_SEGMENTS_READ = UNCHARGED + 6;
export const TUN_SUPER_WRITTEN = UNCHARGED + 7;
export const TUN_SEGMENTS_WRITTEN = UNCHARGED + 8;
/** UDP datagrams read from the workers' shared sockets, where nftables diverted them (udp-divert.ts). */
export const UDP_DIVERTED = UNCHARGED + 9;
/** Shared sockets' reads that carried several datagrams (UDP_GRO), and the datagrams they carried. */
export const UDP_COALESCED_READS = UNCHARGED + 10;
export const UDP_COALESCED_DATAGRAMS = UNCHARGED + 11;
export const TOTAL_FIELDS = UNCHARGED + 12;

/** Offset of a transport's block in the totals. */
export function transportBlock(transport: TransportName): number {
  return TRANSPORTS.indexOf(transport) * BLOCK_FIELDS;
}

/** Fresh counters: nothing counted, no packet seen, no binding. */
export function newSessionCounters(): Float64Array {
  const c = new Float64Array(SESSION_FIELDS);
  c[LAST_PACKET_AT] = -1;
  c[BINDING_ADDRESS] = -1;
  c[BINDING_PORT] = -1;
  return c;
}

export function trafficCounters(c: Float64Array): TrafficCounters {
  return {
    bytesIn: BigInt(c[BYTES_IN]!),
    bytesOut: BigInt(c[BYTES_OUT]!),
    packetsIn: BigInt(c[PACKETS_IN]!),
    packetsOut: BigInt(c[PACKETS_OUT]!),
  };
}

export function tunnelStats(c: Float64Array): TunnelStats {
  const drops = Object.fromEntries(DROP_REASONS.map((r, i) => [r, BigInt(c[DROPS + i]!)])) as Record<DropReason, bigint>;
  const address = c[BINDING_ADDRESS]!;
  const port = c[BINDING_PORT]!;
  return {
    ...trafficCounters(c),
    drops,
    lastPacketAt: c[LAST_PACKET_AT]! < 0 ? null : c[LAST_PACKET_AT]!,
    binding: address < 0 ? null : { address: uint32ToIpv4(address), port: port < 0 ? null : port },
  };
}

/** Where counters `c` say the client's packets go: "address:port" (UDP) or the address (protocol 41); null before any. */
function bindingText(c: Float64Array): string | null {
  const address = c[BINDING_ADDRESS]!;
  const port = c[BINDING_PORT]!;
  if (address < 0) return null;
  return port < 0 ? uint32ToIpv4(address) : `${uint32ToIpv4(address)}:${port}`;
}

/**
 * What changed in a session's binding between two reports, for the log: its first address
 * (NAT traversal learns it from the first datagram) or a move (the NAT box mapped the client
 * anew); null when it did not change.
 */
export function bindingChange(before: Float64Array, after: Float64Array, claimed: { clientIpv4: string; clientUdpPort: number | null }): string | null {
  const from = bindingText(before);
  const to = bindingText(after);
  if (to === null || to === from) return null;
  const address = uint32ToIpv4(after[BINDING_ADDRESS]!);
  const port = after[BINDING_PORT]!;
  // Behind a NAT is known only once packets come from elsewhere than the client said at login.
  const nat = address !== claimed.clientIpv4 || (claimed.clientUdpPort !== null && port !== claimed.clientUdpPort) ? " (behind a NAT)" : "";
  return (from === null ? `client reached at ${to}` : `client moved from ${from} to ${to}`) + nat;
}
