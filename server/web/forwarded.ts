// Which X-Forwarded-* headers the web app believes. A reverse proxy sets them; a browser that
// connects directly could set them as well, and so choose the address that per-address sign-in
// throttling and the audit log see, or claim HTTPS. They are believed only from a trusted peer:
// loopback (a proxy on the same host, the documented set-up; the web app listens on 127.0.0.1 by
// default) or an address listed in BROKER_TRUSTED_PROXIES. From anyone else they are replaced by
// what the connection itself shows.

import type { IncomingHttpHeaders } from "node:http";
import { isIP } from "node:net";

/** Parses BROKER_TRUSTED_PROXIES: IP addresses separated by commas or spaces; throws on anything else. */
export function parseTrustedProxies(text: string | undefined): string[] {
  const entries = (text ?? "").split(/[\s,]+/).filter((x) => x !== "");
  for (const entry of entries) {
    if (isIP(entry) === 0) throw new Error(`BROKER_TRUSTED_PROXIES: ${JSON.stringify(entry)} is not an IP address`);
  }
  return entries.map(plainAddress);
}

/** The address without the IPv4-mapped prefix a dual-stack socket reports. */
function plainAddress(address: string): string {
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address.toLowerCase();
}

function isLoopback(address: string): boolean {
  return address === "::1" || (isIP(address) === 4 && address.startsWith("127."));
}

/**
 * Makes the request's forwarding headers trustworthy, in place: kept when the peer is loopback or
 * trusted, else X-Forwarded-For becomes the peer's address, X-Forwarded-Proto the connection's own
 * scheme, and X-Forwarded-Host and Forwarded are dropped.
 */
export function settleForwardedHeaders(headers: IncomingHttpHeaders, peer: string | undefined, encrypted: boolean, trusted: readonly string[]): void {
  const address = peer === undefined ? undefined : plainAddress(peer);
  if (address !== undefined && (isLoopback(address) || trusted.includes(address))) return;
  if (address === undefined) delete headers["x-forwarded-for"];
  else headers["x-forwarded-for"] = address;
  headers["x-forwarded-proto"] = encrypted ? "https" : "http";
  delete headers["x-forwarded-host"];
  delete headers.forwarded;
}
