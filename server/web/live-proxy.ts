// Carries the browser's WebSocket for the live-session view from the web app's own origin
// (/api/live, or /api/live?pop=<name> for one POP's daemon) to a daemon's API (/live): on loopback,
// or across hosts over TLS. The bytes are relayed as they are: the daemon checks the token in the
// subprotocol header and speaks to the browser directly. Only the request line and a few headers
// are rewritten.

import type { IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import type { Duplex } from "node:stream";

/** Where browsers open the live view, on the web app's origin. */
export const LIVE_PROXY_PATH = "/api/live";

export interface ProxyTarget {
  host: string;
  port: number;
  /** The daemon's WebSocket path. */
  path: string;
  /** Reach it over TLS, the certificate checked against `ca` (PEM; the system's CAs when absent). */
  tls?: { ca?: Buffer } | null;
}

// Headers the daemon has no business seeing (the browser's session cookie) or that are set anew.
const DROPPED = new Set(["host", "cookie", "authorization", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded"]);

export function isLiveUpgrade(req: IncomingMessage): boolean {
  return (req.url ?? "").split("?")[0] === LIVE_PROXY_PATH;
}

/**
 * Relays one upgrade request; answers 502 when the daemon cannot be reached or closes (or stays
 * silent for 10 s) before it answers: a POP that is down shows as such, not as a silent drop.
 */
export function proxyLiveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: ProxyTarget): void {
  let answered = false;
  let upgraded = false;
  const upstream: Socket = target.tls
    ? connectTls({ host: target.host, port: target.port, servername: isIpAddress(target.host) ? undefined : target.host, ca: target.tls.ca, ALPNProtocols: ["http/1.1"] })
    : connect({ host: target.host, port: target.port });
  socket.on("error", () => upstream.destroy());
  socket.on("close", () => upstream.destroy());
  upstream.on("error", () => {});
  // Once upgraded, either side closing closes the other; a relayed refusal is let finish.
  upstream.on("close", () => (!answered ? badGateway(socket) : upgraded ? socket.destroy() : socket.end()));
  upstream.setTimeout(10_000, () => {
    if (!answered) upstream.destroy(new Error("timeout"));
  });
  upstream.once(target.tls ? "secureConnect" : "connect", () => {
    upstream.setNoDelay(true);
    const lines = [`${req.method ?? "GET"} ${target.path} HTTP/1.1`, `Host: ${target.host}:${target.port}`];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      if (!DROPPED.has(name.toLowerCase())) lines.push(`${name}: ${req.rawHeaders[i + 1]!}`);
    }
    // The browser's address as the rest of the web app takes it: the first X-Forwarded-For entry
    // (from the reverse proxy in front), else the connection's peer. The daemon audits kicks with it.
    const forwarded = req.headers["x-forwarded-for"];
    const source = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim() || req.socket.remoteAddress;
    if (source && /^[0-9A-Fa-f.:]{2,45}$/.test(source)) lines.push(`X-Forwarded-For: ${source}`);
    upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
    // Nothing of the browser's goes on until the daemon has accepted the upgrade: a refused
    // visitor's bytes never reach it. Only an HTTP answer is relayed: anything else (a TLS alert
    // from a port that wants TLS) is a bad gateway.
    let answer = Buffer.alloc(0);
    const onAnswer = (chunk: Buffer) => {
      answer = Buffer.concat([answer, chunk]);
      if (answer.subarray(0, 5).toString("latin1") !== "HTTP/".slice(0, Math.min(5, answer.length))) return void upstream.destroy();
      const lineEnd = answer.indexOf("\r\n");
      if (lineEnd < 0) {
        if (answer.length > MAX_STATUS_LINE) upstream.destroy();
        return;
      }
      upstream.off("data", onAnswer);
      answered = true;
      upstream.setTimeout(0);
      socket.write(answer);
      upstream.pipe(socket);
      // A refusal is relayed as it is, and the browser's side is not read.
      upgraded = /^HTTP\/1\.1 101 /.test(answer.subarray(0, lineEnd).toString("latin1"));
      if (upgraded) {
        if (head.length > 0) upstream.write(head);
        socket.pipe(upstream);
      }
    };
    upstream.on("data", onAnswer);
  });
}

const MAX_STATUS_LINE = 1024;

const isIpAddress = (host: string) => /^[\d.]+$/.test(host) || host.includes(":");

function badGateway(socket: Duplex): void {
  if (socket.writable) socket.end("HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n");
  else socket.destroy();
}
