import { join } from "node:path";
import { resolvePaths } from "../config.ts";
import { DEFAULT_ABUSE_LIMITS } from "../control/abuse.ts";
import { DEFAULT_TIMEOUTS } from "../control/connection.ts";
import type { DaemonConfig } from "../daemon.ts";
import { DEFAULT_RETENTION } from "../storage/retention.ts";
import { DEFAULT_LOGIN_RATE_LIMITS } from "../security/login-rate.ts";
import { NoDataPlane } from "../dataplane/types.ts";
import { UserspaceDataPlane } from "../dataplane/userspace.ts";
import { consoleLogger } from "../log.ts";
import { isIpv4 } from "../net/ipv4.ts";
import { DEFAULT_POP, apiUrlSchema, popNameSchema } from "../repositories/pops/schema.ts";
import { numberOption, parseCommandLine, UsageError } from "./args.ts";

export const DTCPS_USAGE = `usage: dtcps [-dDU] [-b udp-port] [-p port] [--no-dataplane] [--listen addr] [--public-ipv4 addr]
             [--tun-name name] [--tun-mtu n] [--relaxed-outer-source] [--workers n] [--no-tproxy] [--no-send-together] [--no-offload] [--metrics [host:]port] [--api-listen [host:]port]
             [--auth-timeout s] [--idle-timeout s] [--max-unauth n] [--max-unauth-per-ip n] [--auth-free-failures n]
             [--auth-delay-base s] [--auth-delay-max s] [--auth-fail-memory s]
             [--pop name] [--pop-lost-after s] [--api-url url] [--api-tls-cert file --api-tls-key file]
             [--tcp-tunnels [host:]port] [--tls-tunnels [host:]port [--tls-cert file --tls-key file]] [--tcp-stall-timeout s]
             [--login-burst n] [--login-interval s] [--audit-retention days] [--history-retention days] [prefix]`;

export function parseDtcpsArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): DaemonConfig & { verbose: boolean } {
  const { values, positionals } = parseCommandLine({
    args: argv,
    options: {
      debug: { type: "boolean", short: "d" },
      // dtcps(8) -D keeps it in the foreground, which is always the case here; accepted for old scripts.
      foreground: { type: "boolean", short: "D" },
      udp: { type: "boolean", short: "U" },
      "udp-port": { type: "string", short: "b" },
      port: { type: "string", short: "p" },
      "no-dataplane": { type: "boolean" },
      "tun-name": { type: "string" },
      "tun-mtu": { type: "string" },
      "relaxed-outer-source": { type: "boolean" },
      "no-send-together": { type: "boolean" },
      workers: { type: "string" },
      "no-tproxy": { type: "boolean" },
      "no-offload": { type: "boolean" },
      metrics: { type: "string" },
      "api-listen": { type: "string" },
      listen: { type: "string" },
      "public-ipv4": { type: "string" },
      "auth-timeout": { type: "string" },
      "idle-timeout": { type: "string" },
      "max-unauth": { type: "string" },
      "max-unauth-per-ip": { type: "string" },
      "auth-free-failures": { type: "string" },
      "auth-delay-base": { type: "string" },
      "auth-delay-max": { type: "string" },
      "auth-fail-memory": { type: "string" },
      pop: { type: "string" },
      "pop-lost-after": { type: "string" },
      "api-url": { type: "string" },
      "api-tls-cert": { type: "string" },
      "api-tls-key": { type: "string" },
      "tcp-tunnels": { type: "string" },
      "tls-tunnels": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "tcp-stall-timeout": { type: "string" },
      "login-burst": { type: "string" },
      "login-interval": { type: "string" },
      "audit-retention": { type: "string" },
      "history-retention": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) throw new UsageError(DTCPS_USAGE);
  if (positionals.length > 1) throw new UsageError(`one prefix at most; got ${positionals.join(" ")}`);
  const publicIpv4 = values["public-ipv4"] ?? null;
  if (publicIpv4 !== null && !isIpv4(publicIpv4)) throw new UsageError(`--public-ipv4 must be an IPv4 address; got "${publicIpv4}"`);
  const host = values.listen ?? "0.0.0.0";
  if (!isIpv4(host)) throw new UsageError(`--listen must be an IPv4 address; got "${host}"`);
  const tunName = values["tun-name"] ?? "dtcp0";
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(tunName)) throw new UsageError(`--tun-name must be 1 to 15 letters, digits, "_", "." or "-"; got "${tunName}"`);
  const seconds = (name: string, value: string | undefined, fallbackMs: number, min = 0.01) =>
    Math.round(numberOption(`--${name}`, value, fallbackMs / 1000, min, 86_400) * 1000);
  const count = (name: string, value: string | undefined, fallback: number, min = 0) =>
    Math.floor(numberOption(`--${name}`, value, fallback, min, 1_000_000));
  const verbose = values.debug ?? false;
  const tunMtu = Math.floor(numberOption("--tun-mtu", values["tun-mtu"], 1280, 1280, 1480));
  // Default: the data plane's own (one per core but one).
  const workers = values.workers === undefined ? undefined : Math.floor(numberOption("--workers", values.workers, 1, 1, 64));
  const strictOuterSource = !(values["relaxed-outer-source"] ?? false);
  const popName = values.pop ?? DEFAULT_POP;
  if (!popNameSchema.safeParse(popName).success) throw new UsageError(`--pop: POP names are 1–32 lowercase letters, digits or '-'; got "${popName}"`);
  let apiUrl: string | null = null;
  if (values["api-url"] !== undefined) {
    const parsed = apiUrlSchema.safeParse(values["api-url"]);
    if (!parsed.success) throw new UsageError(`--api-url: ${parsed.error.issues[0]!.message}; got "${values["api-url"]}"`);
    apiUrl = parsed.data;
  }
  const tlsCert = values["api-tls-cert"];
  const tlsKey = values["api-tls-key"];
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new UsageError("--api-tls-cert and --api-tls-key go together");
  const api = values["api-listen"] === undefined ? null : parseListen("--api-listen", values["api-listen"], "127.0.0.1");
  if ((values["tls-cert"] === undefined) !== (values["tls-key"] === undefined)) throw new UsageError("--tls-cert and --tls-key go together");
  if (values["tls-cert"] !== undefined && values["tls-tunnels"] === undefined) throw new UsageError("--tls-cert needs --tls-tunnels");
  const tcpTunnels = values["tcp-tunnels"] === undefined ? null : parseListen("--tcp-tunnels", values["tcp-tunnels"], host);
  const tlsTunnels = values["tls-tunnels"] === undefined ? null : parseListen("--tls-tunnels", values["tls-tunnels"], host);
  if (tlsCert !== undefined && api === null) throw new UsageError("--api-tls-cert needs --api-listen");
  const paths = resolvePaths(env);
  return {
    strictOuterSource,
    tunnels: {
      tcp: tcpTunnels,
      tls: tlsTunnels && { ...tlsTunnels, certFile: values["tls-cert"] ?? null, keyFile: values["tls-key"] ?? null },
    },
    paths,
    pop: { name: popName, apiUrl, lostAfterMs: seconds("pop-lost-after", values["pop-lost-after"], 30_000, 3) },
    host,
    port: count("p", values.port, 20200, 0),
    udpEnabled: values.udp ?? false,
    udpBasePort: count("b", values["udp-port"], 4028, 1),
    publicIpv4,
    linkPrefix: positionals[0] ?? null,
    timeouts: {
      ...DEFAULT_TIMEOUTS,
      authMs: seconds("auth-timeout", values["auth-timeout"], DEFAULT_TIMEOUTS.authMs),
      idleMs: seconds("idle-timeout", values["idle-timeout"], DEFAULT_TIMEOUTS.idleMs),
    },
    abuse: {
      maxUnauthenticated: count("max-unauth", values["max-unauth"], DEFAULT_ABUSE_LIMITS.maxUnauthenticated, 1),
      maxUnauthenticatedPerAddress: count("max-unauth-per-ip", values["max-unauth-per-ip"], DEFAULT_ABUSE_LIMITS.maxUnauthenticatedPerAddress, 1),
      freeFailures: count("auth-free-failures", values["auth-free-failures"], DEFAULT_ABUSE_LIMITS.freeFailures),
      failureDelayBaseMs: seconds("auth-delay-base", values["auth-delay-base"], DEFAULT_ABUSE_LIMITS.failureDelayBaseMs, 0),
      failureDelayMaxMs: seconds("auth-delay-max", values["auth-delay-max"], DEFAULT_ABUSE_LIMITS.failureDelayMaxMs, 0),
      failureMemoryMs: seconds("auth-fail-memory", values["auth-fail-memory"], DEFAULT_ABUSE_LIMITS.failureMemoryMs),
    },
    dataPlane: values["no-dataplane"]
      ? () => new NoDataPlane()
      : (pools) =>
          new UserspaceDataPlane({
            pools,
            tunName,
            mtu: tunMtu,
            // UDP sockets on the control address, so replies leave from the address clients talk to.
            udpListenAddress: host,
            strictOuterSource,
            ...(workers === undefined ? {} : { workers }),
            sendTogether: !(values["no-send-together"] ?? false),
            // Only UDP sessions have datagrams to divert.
            tproxy: (values.udp ?? false) && !(values["no-tproxy"] ?? false),
            offload: !(values["no-offload"] ?? false),
            streamStallMs: seconds("tcp-stall-timeout", values["tcp-stall-timeout"], 30_000, 1),
            forwardingMarker: join(paths.dataDir, "ipv6-forwarding-was-off"),
            log: consoleLogger(verbose),
          }),
    loginRate: {
      burst: count("login-burst", values["login-burst"], DEFAULT_LOGIN_RATE_LIMITS.burst, 1),
      refillMs: seconds("login-interval", values["login-interval"], DEFAULT_LOGIN_RATE_LIMITS.refillMs, 0.001),
    },
    retention: {
      auditDays: Math.floor(numberOption("--audit-retention", values["audit-retention"], DEFAULT_RETENTION.auditDays, 0, 36_500)),
      historyDays: Math.floor(numberOption("--history-retention", values["history-retention"], DEFAULT_RETENTION.historyDays, 0, 36_500)),
    },
    metrics: values.metrics === undefined ? null : parseListen("--metrics", values.metrics, "127.0.0.1"),
    api: api && { ...api, tls: tlsCert !== undefined && tlsKey !== undefined ? { certFile: tlsCert, keyFile: tlsKey } : null },
    verbose,
  };
}

/** "[host:]port" → host and port; the host defaults to loopback so nothing is public by accident. */
function parseListen(option: string, text: string, defaultHost: string): { host: string; port: number } {
  const colon = text.lastIndexOf(":");
  const host = colon < 0 ? defaultHost : text.slice(0, colon);
  const portText = colon < 0 ? text : text.slice(colon + 1);
  if (!isIpv4(host)) throw new UsageError(`${option} wants [IPv4:]port; got "${text}"`);
  return { host, port: Math.floor(numberOption(option, portText, 0, 0, 65_535)) };
}
