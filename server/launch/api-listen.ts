// Where the daemon's live-session API listens, as the launcher and the web app agree on it.
import type { ProxyTarget } from "../web/live-proxy.ts";

/** BROKER_API_LISTEN's default: loopback only; browsers reach it through the web app. */
export const DEFAULT_API_LISTEN = "127.0.0.1:20201";
const DAEMON_PATH = "/live";

/** The value of --api-listen in dtcps arguments ("--api-listen x" or "--api-listen=x"), or null. */
export function apiListenArg(args: readonly string[]): string | null {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return null;
    if (arg === "--api-listen") return args[i + 1] ?? null;
    if (arg.startsWith("--api-listen=")) return arg.slice("--api-listen=".length);
  }
  return null;
}

/**
 * The dtcps arguments with --api-listen added unless already there, and the value in force
 * ("[IPv4:]port", as dtcps takes it).
 */
export function withApiListen(args: readonly string[], fallback: string): { args: string[]; listen: string } {
  const given = apiListenArg(args);
  if (given !== null) return { args: [...args], listen: given };
  return { args: [...args, "--api-listen", fallback], listen: fallback };
}

/** Where the web app connects for a "[IPv4:]port" the daemon listens on; a wildcard address is reached on loopback. */
export function apiTarget(listen: string): ProxyTarget {
  const colon = listen.lastIndexOf(":");
  const host = colon < 0 ? "127.0.0.1" : listen.slice(0, colon);
  const port = Number(colon < 0 ? listen : listen.slice(colon + 1));
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(host) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`BROKER_API_LISTEN (or dtcps --api-listen) must be [IPv4:]port; got "${listen}"`);
  }
  return { host: host === "0.0.0.0" ? "127.0.0.1" : host, port, path: DAEMON_PATH };
}
