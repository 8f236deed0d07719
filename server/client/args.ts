import type { TunnelType } from "../domain/types.ts";
import { numberOption, parseCommandLine, UsageError } from "../cli/args.ts";
import { AddressError } from "../net/errors.ts";
import { formatIpv6, parseIpv6 } from "../net/ipv6.ts";
import { formatPrefix6, parsePrefix6 } from "../net/prefix.ts";

export const DTCPC_USAGE = `usage: dtcpc [-dlnU] [-t tunnelonly|host|network] [-u user] [-p port] [-b udp-port] [-B nat-port]
             [-m mtu] [-i ifname] [-A address] [-R destination[,…]] [-f pidfile] [-s script]
             [--auth-file path] [--keepalive seconds] server`;

/** The password files searched after --auth-file, as dtcpc(8) and dtcpclient(8) name them. */
export const DEFAULT_AUTH_FILES = ["/usr/local/etc/dtcpc.auth", "/usr/local/etc/dtcpclient.auth"];

/** dtcpclient(8)'s local UDP port, used whenever the server is told which port to send to. */
export const DEFAULT_UDP_PORT = 4028;

/** IPv6 over UDP/IPv4 (-U). */
export interface UdpOptions {
  /** Local port to bind; 0 lets the kernel pick. */
  bindPort: number;
  /** -B: the port announced to the server (a static forward on the NAT box). */
  natPort: number | null;
  /** -n without -B: announce no port; the server answers the source of our datagrams. */
  natTraversal: boolean;
  /** Interval of the empty keepalive datagrams in NAT traversal mode. */
  keepaliveMs: number;
}

export interface DtcpcOptions {
  server: string;
  port: number;
  type: TunnelType;
  /** null: taken from the auth file when exactly one entry matches the server. */
  user: string | null;
  /** null: IPv6-in-IPv4 (IP protocol 41). */
  udp: UdpOptions | null;
  /** -n: accept that the server sees another IPv4 address than ours. */
  acceptNat: boolean;
  mtu: number;
  /** -l: reconnect for ever. */
  loop: boolean;
  pidFile: string | null;
  script: string | null;
  /** -A: IPv6 address for the TUN of a tunnelonly or network tunnel, canonical form. */
  address: string | null;
  /** -R: routed destinations (canonical CIDR); null routes ::/0. */
  routes: string[] | null;
  ifname: string;
  debug: boolean;
  /** --auth-file: searched first, and must be readable. */
  authFile: string | null;
}

const TYPES: ReadonlyMap<string, TunnelType> = new Map([
  ["tunnelonly", "tunnelonly"],
  ["host", "host"],
  ["network", "network"],
  ["tunnelroute", "network"],
]);

// Interface names: at most 15 bytes (IFNAMSIZ - 1); "%d" lets the kernel number it.
const IFNAME = /^[A-Za-z0-9_.%-]{1,15}$/;
// The user name is one word of the control line.
const USER = /^[\x21-\x7e]+$/;

const integer = (name: string, value: string | undefined, fallback: number, min: number, max: number): number => {
  const n = numberOption(name, value, fallback, min, max);
  if (!Number.isInteger(n)) throw new UsageError(`${name} must be a whole number; got "${value}"`);
  return n;
};

function ipv6Route(text: string): string {
  try {
    return formatPrefix6(text.includes("/") ? parsePrefix6(text) : { address: parseIpv6(text), length: 128 });
  } catch (err) {
    if (err instanceof AddressError) throw new UsageError(`-R: ${err.message}`);
    throw err;
  }
}

/** Parses the command line; every mistake is a UsageError (one line, exit code 2). */
export function parseDtcpcArgs(argv: string[]): DtcpcOptions {
  const { values, positionals } = parseCommandLine({
    args: argv,
    options: {
      type: { type: "string", short: "t" },
      user: { type: "string", short: "u" },
      port: { type: "string", short: "p" },
      udp: { type: "boolean", short: "U" },
      "udp-port": { type: "string", short: "b" },
      "nat-port": { type: "string", short: "B" },
      nat: { type: "boolean", short: "n" },
      mtu: { type: "string", short: "m" },
      loop: { type: "boolean", short: "l" },
      pidfile: { type: "string", short: "f" },
      script: { type: "string", short: "s" },
      address: { type: "string", short: "A" },
      route: { type: "string", short: "R" },
      interface: { type: "string", short: "i" },
      debug: { type: "boolean", short: "d" },
      "auth-file": { type: "string" },
      keepalive: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) throw new UsageError(DTCPC_USAGE);
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? "missing the server to connect to" : `one server only; got ${positionals.join(" ")}`);
  }
  const server = positionals[0]!;

  const typeWord = values.type ?? "tunnelonly";
  const type = TYPES.get(typeWord.toLowerCase());
  if (type === undefined) throw new UsageError(`-t must be tunnelonly, host or network; got "${typeWord}"`);

  if (values.user !== undefined && !USER.test(values.user)) {
    throw new UsageError(`-u must be one word of printable ASCII; got ${JSON.stringify(values.user)}`);
  }

  const ifname = values.interface ?? "dtcp0";
  if (!IFNAME.test(ifname)) throw new UsageError(`-i must be an interface name of at most 15 letters, digits, "_.-%"; got "${ifname}"`);

  let address: string | null = null;
  if (values.address !== undefined) {
    // host tunnels get their address pair from the server; -A is for the types that get none.
    if (type === "host") throw new UsageError("-A applies to tunnelonly and network tunnels; host tunnels get their address from the server");
    try {
      address = formatIpv6(parseIpv6(values.address));
    } catch (err) {
      if (err instanceof AddressError) throw new UsageError(`-A: ${err.message}`);
      throw err;
    }
  }

  const routes = values.route === undefined ? null : values.route.split(",").map((r) => ipv6Route(r.trim()));

  const acceptNat = values.nat ?? false;
  let udp: UdpOptions | null = null;
  if (values.udp) {
    const natPort = values["nat-port"] === undefined ? null : integer("-B", values["nat-port"], 0, 1, 65535);
    const natTraversal = acceptNat && natPort === null;
    if (values.keepalive !== undefined && !natTraversal) {
      throw new UsageError("--keepalive applies to NAT traversal only (-U -n without -B)");
    }
    // A port the server is told (or the NAT forwards to) must be known; in NAT traversal any port does.
    const bindPort = integer("-b", values["udp-port"], natTraversal ? 0 : DEFAULT_UDP_PORT, natTraversal ? 0 : 1, 65535);
    const keepaliveMs = Math.round(numberOption("--keepalive", values.keepalive, 25, 1, 3600) * 1000);
    udp = { bindPort, natPort, natTraversal, keepaliveMs };
  } else {
    for (const [name, value] of [["-b", values["udp-port"]], ["-B", values["nat-port"]], ["--keepalive", values.keepalive]] as const) {
      if (value !== undefined) throw new UsageError(`${name} needs -U (IPv6 over UDP)`);
    }
  }

  return {
    server,
    port: integer("-p", values.port, 20200, 1, 65535),
    type,
    user: values.user ?? null,
    udp,
    acceptNat,
    mtu: integer("-m", values.mtu, 1280, 1280, 65535),
    loop: values.loop ?? false,
    pidFile: values.pidfile ?? null,
    script: values.script ?? null,
    address,
    routes,
    ifname,
    debug: values.debug ?? false,
    authFile: values["auth-file"] ?? null,
  };
}
