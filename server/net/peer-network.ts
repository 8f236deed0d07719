// What "one address" means for limits keyed by a peer's address. An IPv4 address is one host (or
// one NAT); an IPv6 host is handed a whole /64 and picks addresses in it freely (privacy
// addresses), so per-address limits that took each IPv6 address apart would give one host 2^64
// shares. Limits key IPv6 peers by their /64.
import { unmapIpv4 } from "./ipv4.ts";
import { formatIpv6, parseIpv6 } from "./ipv6.ts";

const HOST_BITS = 64n;

/** The key per-address limits count a peer under: its IPv4 address, or its IPv6 /64 ("2001:db8:1:2::/64"). */
export function peerNetwork(address: string): string {
  const plain = unmapIpv4(address);
  if (!plain.includes(":")) return plain;
  let n: bigint;
  try {
    n = parseIpv6(plain);
  } catch {
    return plain;
  }
  return `${formatIpv6((n >> HOST_BITS) << HOST_BITS)}/64`;
}
