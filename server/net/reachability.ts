import { isIpv4, parseIpv4 } from "./ipv4.ts";

// Address blocks a client elsewhere on the internet cannot reach the broker at.
const LOCAL_BLOCKS: readonly [string, number, string][] = [
  ["127.0.0.0", 8, "a loopback address"],
  ["10.0.0.0", 8, "a private address"],
  ["172.16.0.0", 12, "a private address"],
  ["192.168.0.0", 16, "a private address"],
  ["169.254.0.0", 16, "a link-local address"],
  ["100.64.0.0", 10, "a carrier-grade NAT address"],
  ["0.0.0.0", 8, "not an address clients can connect to"],
];

/**
 * Why clients elsewhere could not reach a server by this name or address, or null when nothing
 * says so. Names are not resolved: only localhost and the blocks above are recognised.
 */
export function localOnly(host: string): string | null {
  const name = host.trim().toLowerCase().replace(/\.$/, "");
  if (name === "localhost" || name.endsWith(".localhost")) return "a name for this machine only";
  if (name === "::1" || name === "[::1]") return "a loopback address";
  if (!isIpv4(name)) return null;
  const address = parseIpv4(name);
  for (const [base, length, why] of LOCAL_BLOCKS) {
    const mask = length === 0 ? 0 : (~0 << (32 - length)) >>> 0;
    if (((address & mask) >>> 0) === ((parseIpv4(base) & mask) >>> 0)) return why;
  }
  return null;
}

/** Whether a host name or address can only mean this machine (loopback, localhost). */
export function isLoopbackHost(host: string): boolean {
  const why = localOnly(host.replace(/^\[(.*)\]$/, "$1"));
  return why === "a loopback address" || why === "a name for this machine only";
}

/** An IPv4 address of one of this host's interfaces, as os.networkInterfaces() lists them. */
export interface InterfaceAddress {
  family: string | number;
  address: string;
  internal: boolean;
}

/**
 * The name to offer as the server name: the host the browser used when clients elsewhere could
 * reach it by that, else this host's first address that they could (one-box installs run the web
 * app beside the daemon), else its first non-loopback IPv4, else what the browser used.
 */
export function suggestServerName(browserHost: string, addresses: readonly InterfaceAddress[]): string {
  if (localOnly(browserHost) === null) return browserHost;
  const ipv4 = addresses.filter((a) => (a.family === "IPv4" || a.family === 4) && !a.internal).map((a) => a.address);
  return ipv4.find((a) => localOnly(a) === null) ?? ipv4.find((a) => localOnly(a) !== "a loopback address") ?? browserHost;
}
