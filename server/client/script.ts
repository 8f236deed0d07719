import type { TunnelReply } from "./reply.ts";

export interface ScriptContext {
  /** The server as given on the command line. */
  server: string;
  /** Our IPv4 address on the control connection. */
  localIpv4: string;
  reply: TunnelReply;
  /** -A, for tunnelonly and network tunnels. */
  address: string | null;
  ifname: string;
}

/**
 * The arguments of the -s script, dtcpclient(8)'s nine and the interface name:
 *   1 state    up | down
 *   2 server   as given on the command line
 *   3 myaddr   our IPv4 address on the control connection
 *   4 tuntype  tunnelonly | host | network
 *   5 me       our IPv4 address as the server sees it (differs behind NAT)
 *   6 her      the server's IPv4 tunnel endpoint
 *   7 me6      host: our tunnel IPv6 address; otherwise -A, if given
 *   8 her6     host: the server's tunnel IPv6 address
 *   9 prefix   network: the routed prefix, address/length
 *  10 ifname   the TUN interface
 * A field that does not apply is `-`.
 */
export function scriptArguments(state: "up" | "down", ctx: ScriptContext): string[] {
  const { reply } = ctx;
  return [
    state,
    ctx.server,
    ctx.localIpv4,
    reply.type,
    reply.clientIPv4,
    reply.serverIPv4,
    reply.type === "host" ? reply.clientIPv6 : (ctx.address ?? "-"),
    reply.type === "host" ? reply.serverIPv6 : "-",
    reply.type === "network" ? `${reply.prefix}/${reply.prefixLength}` : "-",
    ctx.ifname,
  ];
}
