import type { TunnelReply } from "./reply.ts";

/**
 * Metric of the routes dtcpc installs: below the 100–1024 that DHCP, RA and NetworkManager use,
 * so the tunnel wins, and distinct from them, so adding ::/0 never collides with an existing
 * default route ("File exists").
 */
export const ROUTE_METRIC = 50;

export interface InterfacePlan {
  /** `ip` argument vectors that configure the TUN, in order. */
  setup: string[][];
  /** The vectors that undo them, in reverse order. */
  teardown: string[][];
}

/**
 * The addresses and routes of a tunnel on the TUN `ifname` (which already exists, is up and has
 * its MTU). The server address pair of a host tunnel is configured as our /128 plus a /128 route
 * to the server: nothing is assumed about the size of the link block. Tunnelonly and network
 * tunnels get -A as a /128 when given; the LAN side of a network prefix is -P's (lan-router.ts) or the -s script's.
 * Then ::/0, or the -R destinations, through the TUN.
 */
export function planInterface(
  ifname: string,
  reply: TunnelReply,
  options: { address: string | null; routes: string[] | null; routing?: "static" | "solicit" },
): InterfacePlan {
  const steps: { add: string[]; del: string[] }[] = [];
  const routed = new Set<string>();
  const address = (a: string) => {
    steps.push({ add: ["-6", "addr", "add", `${a}/128`, "dev", ifname, "nodad"], del: ["-6", "addr", "del", `${a}/128`, "dev", ifname] });
  };
  const route = (dest: string) => {
    if (routed.has(dest)) return; // -R may repeat the host route
    routed.add(dest);
    const spec = [dest, "dev", ifname, "metric", String(ROUTE_METRIC)];
    steps.push({ add: ["-6", "route", "add", ...spec], del: ["-6", "route", "del", ...spec] });
  };
  if (reply.type === "host") {
    address(reply.clientIPv6);
    route(`${reply.serverIPv6}/128`);
  } else if (options.address !== null) {
    address(options.address);
  }
  // -r solicit: the default route is the router advertisements' business; -R routes are still ours.
  for (const dest of options.routes ?? (options.routing === "solicit" ? [] : ["::/0"])) route(dest);
  return { setup: steps.map((s) => s.add), teardown: steps.map((s) => s.del).reverse() };
}
