import type { TunnelType } from "../domain/types.ts";
import { numberOption, parseCommandLine, UsageError } from "../cli/args.ts";
import { AddressError } from "../net/errors.ts";
import { isIpv4 } from "../net/ipv4.ts";
import { refusedOuterAddress } from "./host-checks.ts";
import { formatIpv6, parseIpv6 } from "../net/ipv6.ts";
import { formatPrefix6, parsePrefix6 } from "../net/prefix.ts";
import { parseDelegationSpecs, type DelegationSpec } from "./delegation.ts";

export const DTCPC_USAGE = `usage: dtcpc [-acdDlnoU] [-t tunnelonly|host|network] [-u user] [-p port] [-b udp-port] [-B nat-port]
             [-m mtu] [-i ifname] [-A address] [-R destination[,…]] [-P interface/SLA-id[/host-id[/prefixlen]][,…]]
             [-r static|solicit] [-f pidfile] [-s script] [--log-file path]
             [--tcp | --tls | --transport auto|proto41|udp|tcp|tls] [--pin sha256-fingerprint | --ca file] [--tls-port port]
             [--tunnel-server reply|ipv4-address] [--auth-file path] [--keepalive seconds] [--no-offload] server`;

/** How the tunnel's packets travel; "auto" tries UDP, then TCP (then TLS), and keeps what works. */
export type TransportChoice = "proto41" | "udp" | "tcp" | "tls" | "auto";

/** Where -D writes the log. */
export const DEFAULT_LOG_FILE = "/var/log/dtcpc.log";
/** The pidfile of -D without -f. */
export const DEFAULT_PID_FILE = "/run/dtcpc.pid";

/** The TLS port when none is given: what firewalls that let anything through let through. */
export const DEFAULT_TLS_PORT = 443;

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
  transport: TransportChoice;
  /** The UDP transport's settings (with transport udp or auto); null otherwise. */
  udp: UdpOptions | null;
  /** TLS (transport tls, auto's last resort, every control connection with --pin or --ca): where, and how the server's certificate is checked. */
  tls: TlsOptions;
  /** Where the tunnel's own packets go (see TunnelServer). */
  tunnelServer: TunnelServer;
  /** -n: accept that the server sees another IPv4 address than ours. */
  acceptNat: boolean;
  mtu: number;
  /** The TUN passes TCP super-packets when the kernel takes them; --no-offload: one packet per read and write. */
  offload: boolean;
  /** -l: reconnect for ever. */
  loop: boolean;
  pidFile: string | null;
  script: string | null;
  /** -A: IPv6 address for the TUN of a tunnelonly or network tunnel, canonical form. */
  address: string | null;
  /** -R: routed destinations (canonical CIDR); null routes ::/0. */
  routes: string[] | null;
  ifname: string;
  /** -P: LAN interfaces numbered from a network tunnel's delegation. */
  delegations: DelegationSpec[];
  /** Router advertisements on those LANs (-a: none). */
  advertise: boolean;
  /** -r: static (dtcpc routes ::/0 or -R through the tunnel) or solicit (the default route is left to router advertisements on the tunnel). */
  routing: "static" | "solicit";
  /** -D: in the background, logging to logFile, with a pidfile. */
  background: boolean;
  logFile: string;
  /** -o: the TUN (and its addresses and routes) stays when dtcpc exits. */
  keepInterface: boolean;
  debug: boolean;
  /** --auth-file: searched first, and must be readable. */
  authFile: string | null;
}

/**
 * Where the tunnel's packets go: by default the address the control connection reached (a reply
 * cannot send them anywhere else); --tunnel-server reply believes the address the server names;
 * --tunnel-server <ipv4> sends them to that address.
 */
export type TunnelServer = { kind: "reached" } | { kind: "reply" } | { kind: "address"; address: string };

export interface TlsOptions {
  /** The DTCP port inside TLS. */
  port: number;
  /**
   * Every control connection runs inside TLS (--tls, --pin, --ca): nothing, not even the login,
   * goes to a server before it has shown the certificate asked for.
   */
  control: boolean;
  /** SHA-256 fingerprint of the server's certificate (AB:CD:…), for a self-signed one. */
  pin: string | null;
  /** PEM certificates to check it against; neither pin nor CA: the system's CAs. */
  caFile: string | null;
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
      tcp: { type: "boolean" },
      tls: { type: "boolean" },
      transport: { type: "string" },
      pin: { type: "string" },
      ca: { type: "string" },
      "tls-port": { type: "string" },
      "tunnel-server": { type: "string" },
      "no-offload": { type: "boolean" },
      "prefix-delegation": { type: "string", short: "P" },
      "no-advertise": { type: "boolean", short: "a" },
      routing: { type: "string", short: "r" },
      background: { type: "boolean", short: "D" },
      "keep-interface": { type: "boolean", short: "o" },
      compat: { type: "boolean", short: "c" },
      "log-file": { type: "string" },
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
  const picked = [values.udp && "-U", values.tcp && "--tcp", values.tls && "--tls", values.transport !== undefined && "--transport"].filter((x): x is string => !!x);
  if (picked.length > 1) throw new UsageError(`${picked.join(" and ")} each choose the transport: give one`);
  const transport: TransportChoice = values.udp ? "udp" : values.tcp ? "tcp" : values.tls ? "tls" : transportWord(values.transport ?? "proto41");
  if (values.pin !== undefined && values.ca !== undefined) throw new UsageError("--pin and --ca each say how to check the server's certificate: give one");
  const pin = values.pin === undefined ? null : fingerprint(values.pin);
  // A certificate to check is a promise that nothing goes out before it is seen: the control connection always runs inside TLS.
  const tlsControl = transport === "tls" || pin !== null || values.ca !== undefined;
  if (values["tls-port"] !== undefined && !tlsControl && transport !== "auto") {
    throw new UsageError("--tls-port applies to --tls, --pin, --ca and --transport auto");
  }
  const tlsPort = integer("--tls-port", values["tls-port"], transport === "tls" && values.port !== undefined ? Number(values.port) : DEFAULT_TLS_PORT, 1, 65535);
  const tunnelServer = tunnelServerWord(values["tunnel-server"]);
  let udp: UdpOptions | null = null;
  if (transport === "auto") {
    // auto's UDP rung is NAT traversal: it works behind a NAT and in the open alike.
    for (const [name, value] of [["-b", values["udp-port"]], ["-B", values["nat-port"]]] as const) {
      if (value !== undefined) throw new UsageError(`${name} needs -U (--transport auto uses NAT traversal)`);
    }
    udp = { bindPort: 0, natPort: null, natTraversal: true, keepaliveMs: Math.round(numberOption("--keepalive", values.keepalive, 25, 1, 3600) * 1000) };
  } else if (transport === "udp") {
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

  let delegations: DelegationSpec[] = [];
  if (values["prefix-delegation"] !== undefined) {
    if (type !== "network") throw new UsageError("-P numbers LANs from a network tunnel's prefix: it needs -t network");
    try {
      delegations = parseDelegationSpecs(values["prefix-delegation"]);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  if (values["no-advertise"] && delegations.length === 0) throw new UsageError("-a turns off the router advertisements of -P: it needs -P");
  const routing = values.routing ?? "static";
  if (routing !== "static" && routing !== "solicit") throw new UsageError(`-r must be static or solicit; got "${routing}"`);
  if (values["log-file"] !== undefined && !values.background) throw new UsageError("--log-file applies to -D");

  return {
    delegations,
    advertise: !(values["no-advertise"] ?? false),
    routing,
    background: values.background ?? false,
    logFile: values["log-file"] ?? DEFAULT_LOG_FILE,
    keepInterface: values["keep-interface"] ?? false,
    server,
    port: integer("-p", values.port, 20200, 1, 65535),
    type,
    user: values.user ?? null,
    transport,
    udp,
    tls: { port: tlsPort, control: tlsControl, pin, caFile: values.ca ?? null },
    tunnelServer,
    acceptNat,
    mtu: integer("-m", values.mtu, 1280, 1280, 65535),
    offload: !(values["no-offload"] ?? false),
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

function tunnelServerWord(word: string | undefined): TunnelServer {
  if (word === undefined) return { kind: "reached" };
  if (word.toLowerCase() === "reply") return { kind: "reply" };
  if (!isIpv4(word)) throw new UsageError(`--tunnel-server must be "reply" or an IPv4 address; got "${word}"`);
  const refused = refusedOuterAddress(word);
  if (refused !== null) throw new UsageError(`--tunnel-server ${word}: ${refused}`);
  return { kind: "address", address: word };
}

function transportWord(word: string): TransportChoice {
  const choices: readonly TransportChoice[] = ["auto", "proto41", "udp", "tcp", "tls"];
  const lower = word.toLowerCase();
  if (!(choices as readonly string[]).includes(lower)) throw new UsageError(`--transport must be ${choices.join(", ")}; got "${word}"`);
  return lower as TransportChoice;
}

/** A SHA-256 fingerprint as AB:CD:…, from that form, plain hex, or either after "sha256:". */
function fingerprint(text: string): string {
  const hex = text.replace(/^sha256:/i, "").replace(/:/g, "");
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new UsageError(`--pin must be a SHA-256 fingerprint (64 hex digits, ':' between pairs allowed); got "${text}"`);
  return hex.toUpperCase().replace(/(..)(?!$)/g, "$1:");
}
