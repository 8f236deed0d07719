// The client's calls out to the system: `ip` (to configure, and to read the host's addresses and routes) and the -s script.

import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { parseIpv6 } from "../net/ipv6.ts";
import { parsePrefix6, type Prefix6 } from "../net/prefix.ts";
import type { HostView } from "./host-checks.ts";

const execFileAsync = promisify(execFile);

/** How long the -s script may run before it is killed. */
const SCRIPT_TIMEOUT_MS = 30_000;

/** Runs `ip <argv>`; rejects with ip's own message. */
export async function ip(argv: readonly string[]): Promise<void> {
  try {
    await execFileAsync("ip", argv, { timeout: 10_000 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`ip ${argv.join(" ")}: ${(e.stderr ?? "").trim() || e.message}`);
  }
}

/**
 * This host's addresses and IPv6 routes as `ip -j` shows them, leaving out the tunnel's own TUN
 * `tun` (one kept by an earlier dtcpc -o still carries that session's addresses and routes).
 */
export async function hostView(tun: string): Promise<HostView> {
  const json = async (argv: string[]): Promise<unknown[]> => {
    try {
      const { stdout } = await execFileAsync("ip", ["-j", ...argv], { timeout: 10_000, maxBuffer: 64 << 20 });
      return JSON.parse(stdout || "[]") as unknown[];
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new Error(`ip -j ${argv.join(" ")}: ${(e.stderr ?? "").trim() || e.message}`);
    }
  };
  const view: HostView = { ipv4: [], ipv6Addresses: [], ipv6Routes: [] };
  type Link = { ifname?: string; addr_info?: { family?: string; local?: string }[] };
  for (const link of (await json(["addr", "show"])) as Link[]) {
    for (const a of link.addr_info ?? []) {
      if (a.local === undefined) continue;
      if (a.family === "inet") view.ipv4.push({ ifname: link.ifname ?? "?", address: a.local });
      else if (a.family === "inet6" && link.ifname !== tun) view.ipv6Addresses.push({ ifname: link.ifname ?? "?", address: parseIpv6(a.local.split("%")[0]!) });
    }
  }
  type Route = { dst?: string; dev?: string; gateway?: string; nexthops?: { gateway?: string; dev?: string }[] };
  for (const route of (await json(["-6", "route", "show", "table", "main"])) as Route[]) {
    const ifname = route.dev ?? route.nexthops?.[0]?.dev ?? "?";
    if (ifname === tun || route.dst === undefined) continue;
    let prefix: Prefix6;
    try {
      prefix = route.dst === "default" ? { address: 0n, length: 0 } : route.dst.includes("/") ? parsePrefix6(route.dst) : { address: parseIpv6(route.dst), length: 128 };
    } catch {
      continue; // not a destination (ip's words for special routes): nothing a reply could take over
    }
    const gateways = [route.gateway, ...(route.nexthops ?? []).map((h) => h.gateway)].filter((g): g is string => g !== undefined);
    if (gateways.length === 0) view.ipv6Routes.push({ ifname, prefix, gateway: null });
    for (const g of gateways) view.ipv6Routes.push({ ifname, prefix, gateway: parseIpv6(g) });
  }
  return view;
}

/** Runs the -s script with its output on ours; resolves with a description of a failure, or null. */
export function runScript(path: string, args: readonly string[]): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn(path, args, { stdio: ["ignore", "inherit", "inherit"], timeout: SCRIPT_TIMEOUT_MS });
    child.once("error", (err) => resolve(`${path}: ${err.message}`));
    child.once("exit", (code, signal) => {
      if (code === 0) resolve(null);
      else resolve(`${path} ${args[0]} ${signal === null ? `exited with ${code}` : `was killed by ${signal}`}`);
    });
  });
}
