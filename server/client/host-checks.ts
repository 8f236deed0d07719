// What dtcpc refuses to take from a server before it configures anything: a reply comes over a
// connection anyone on the path can write to, and dtcpc runs as root. The tunnel's packets go
// where the control connection reached (not to whatever address a reply names), and no address or
// prefix from a reply may take over one this host already has or already routes elsewhere. Pure:
// the host's addresses and routes come in as a HostView (system.ts reads them).
import { parseIpv4 } from "../net/ipv4.ts";
import { formatIpv6, parseIpv6 } from "../net/ipv6.ts";
import { addressInPrefix, formatPrefix6, parsePrefix6, prefixesOverlap, type Prefix6 } from "../net/prefix.ts";
import type { TunnelServer } from "./args.ts";
import type { TunnelReply } from "./reply.ts";

/** This host as `ip` shows it, without the tunnel's own TUN. */
export interface HostView {
  /** Every IPv4 address of the host, loopback included. */
  ipv4: { ifname: string; address: string }[];
  ipv6Addresses: { ifname: string; address: bigint }[];
  /** The main table's IPv6 routes; a default route has length 0. */
  ipv6Routes: { ifname: string; prefix: Prefix6; gateway: bigint | null }[];
}

const IPV4_REFUSED: readonly [string, number, string][] = [
  ["0.0.0.0", 8, "an unspecified (\"this network\") address"],
  ["127.0.0.0", 8, "a loopback address"],
  ["224.0.0.0", 4, "a multicast address"],
  ["240.0.0.0", 4, "a reserved or broadcast address"],
];

/** Why an IPv4 address can never be a tunnel's far end, or null when it can. */
export function refusedOuterAddress(ipv4: string): string | null {
  const n = parseIpv4(ipv4);
  for (const [base, length, what] of IPV4_REFUSED) {
    if (n >>> (32 - length) === parseIpv4(base) >>> (32 - length)) return `${ipv4} is ${what}`;
  }
  return null;
}

/**
 * Where the tunnel's packets go, or why the session must be refused. `reached` is the address the
 * control connection was made to (the user's choice, so it is taken as it is); a reply that names
 * another address is only followed with --tunnel-server reply, and never to an address of this host,
 * a loopback, multicast, broadcast or unspecified one.
 */
export function outerDestination(
  reply: TunnelReply,
  reached: string,
  choice: TunnelServer,
  hostIpv4: readonly string[],
): { ok: true; address: string; note: string | null } | { ok: false; error: string } {
  if (choice.kind === "address") return { ok: true, address: choice.address, note: null };
  if (choice.kind === "reached" || reply.serverIPv4 === reached) {
    const note = reply.serverIPv4 === reached ? null : `the server names ${reply.serverIPv4} as its tunnel address; packets go to ${reached}, where the control connection reached it (--tunnel-server reply follows the server)`;
    return { ok: true, address: reached, note };
  }
  const refused = refusedOuterAddress(reply.serverIPv4);
  if (refused !== null) return { ok: false, error: `the server names ${refused} as its tunnel address` };
  if (hostIpv4.includes(reply.serverIPv4)) {
    return { ok: false, error: `the server names ${reply.serverIPv4}, an address of this host, as its tunnel address (a routing loop)` };
  }
  return { ok: true, address: reply.serverIPv4, note: null };
}

/** Blocks no address or prefix from a server may fall in or overlap. */
const IPV6_REFUSED: readonly [string, string][] = [
  ["::/96", "the unspecified, loopback and IPv4-compatible addresses"],
  ["::ffff:0:0/96", "IPv4-mapped addresses"],
  ["fe80::/10", "link-local addresses"],
  ["fec0::/10", "site-local addresses"],
  ["ff00::/8", "multicast addresses"],
];
const REFUSED_BLOCKS = IPV6_REFUSED.map(([block, what]) => ({ prefix: parsePrefix6(block), what: `${block} (${what})` }));

/** The longest a delegated prefix may be: LAN hosts configure themselves (SLAAC) only in a /64. */
export const LONGEST_DELEGATION = 64;

/**
 * The interfaces this host reaches the world by: those with an IPv6 default route, and the one
 * holding `localIpv4` (the control connection's own address).
 */
export function uplinks(host: HostView, localIpv4: string): Set<string> {
  const found = new Set(host.ipv6Routes.filter((r) => r.prefix.length === 0).map((r) => r.ifname));
  for (const a of host.ipv4) if (a.address === localIpv4) found.add(a.ifname);
  return found;
}

/**
 * Why a network tunnel's prefix must be refused, or null: it must be unicast with a global scope,
 * /64 or shorter, and overlap none of this host's addresses and routes (the default route aside).
 * One exception: a LAN (an interface that is not an uplink) already numbered or routed from within
 * the prefix is the user's own use of this delegation, as dtcpc(8) users configure it by hand.
 */
export function refusedDelegation(prefix: Prefix6, host: HostView, localIpv4: string): string | null {
  const text = formatPrefix6(prefix);
  for (const block of REFUSED_BLOCKS) {
    if (prefixesOverlap(prefix, block.prefix)) return `the delegated prefix ${text} overlaps ${block.what}`;
  }
  if (prefix.length > LONGEST_DELEGATION) return `the delegated prefix ${text} is longer than a /${LONGEST_DELEGATION}`;
  const up = uplinks(host, localIpv4);
  const lanOwn = (ifname: string, inner: Prefix6) => !up.has(ifname) && inner.length >= prefix.length;
  const overlap = overlapWithHost(prefix, host, `the delegated prefix ${text}`, lanOwn);
  if (overlap !== null) return overlap;
  const gateway = host.ipv6Routes.find((r) => r.gateway !== null && addressInPrefix(r.gateway, prefix));
  return gateway ? `the delegated prefix ${text} covers ${formatIpv6(gateway.gateway!)}, this host's gateway on ${gateway.ifname}` : null;
}

/**
 * Why a host tunnel's address pair must be refused, or null: neither address may be special, one
 * this host has, its gateway, or within a prefix it routes elsewhere (a /128 route into the tunnel
 * would capture a neighbour).
 */
export function refusedLinkAddresses(reply: TunnelReply & { type: "host" }, host: HostView): string | null {
  for (const [name, text] of [["our tunnel address", reply.clientIPv6], ["the server's tunnel address", reply.serverIPv6]] as const) {
    const address = parseIpv6(text);
    const single = { address, length: 128 };
    for (const block of REFUSED_BLOCKS) {
      if (addressInPrefix(address, block.prefix)) return `${name} ${text} is in ${block.what}`;
    }
    const gateway = host.ipv6Routes.find((r) => r.gateway === address);
    if (gateway) return `${name} ${text} is this host's gateway on ${gateway.ifname}`;
    const overlap = overlapWithHost(single, host, `${name} ${text}`);
    if (overlap !== null) return overlap;
  }
  if (reply.clientIPv6 === reply.serverIPv6) return `the server gave the same address ${reply.clientIPv6} to both ends`;
  return null;
}

/** The first address or route of the host that `prefix` overlaps, unless `allowed` lets it (an interface, and what lies inside the prefix). */
function overlapWithHost(prefix: Prefix6, host: HostView, what: string, allowed: (ifname: string, inner: Prefix6) => boolean = () => false): string | null {
  const own = host.ipv6Addresses.find((a) => addressInPrefix(a.address, prefix) && !allowed(a.ifname, { address: a.address, length: 128 }));
  if (own) return `${what} covers ${formatIpv6(own.address)}, an address of this host on ${own.ifname}`;
  const route = host.ipv6Routes.find((r) => r.prefix.length > 0 && prefixesOverlap(r.prefix, prefix) && !allowed(r.ifname, r.prefix));
  if (route) return `${what} overlaps ${formatPrefix6(route.prefix)}, which this host routes on ${route.ifname}`;
  return null;
}
