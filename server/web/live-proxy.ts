// Carries the browser's WebSocket for the live-session view from the web app's own origin
// (/api/live) to the daemon's API on loopback (/live). The bytes are relayed as they are: the
// daemon checks the token in the subprotocol header and speaks to the browser directly. Only the
// request line and a few headers are rewritten.

import type { IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";

/** Where browsers open the live view, on the web app's origin. */
export const LIVE_PROXY_PATH = "/api/live";

export interface ProxyTarget {
  host: string;
  port: number;
  /** The daemon's WebSocket path. */
  path: string;
}

// Headers the daemon has no business seeing (the browser's session cookie) or that are set anew.
const DROPPED = new Set(["host", "cookie", "authorization", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded"]);

export function isLiveUpgrade(req: IncomingMessage): boolean {
  return (req.url ?? "").split("?")[0] === LIVE_PROXY_PATH;
}

/** Relays one upgrade request; answers 502 when the daemon cannot be reached. */
export function proxyLiveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: ProxyTarget): void {
  let connected = false;
  const upstream: Socket = connect({ host: target.host, port: target.port });
  socket.on("error", () => upstream.destroy());
  socket.on("close", () => upstream.destroy());
  upstream.on("error", () => {
    if (!connected) badGateway(socket);
    else socket.destroy();
  });
  upstream.on("close", () => socket.destroy());
  upstream.setTimeout(10_000, () => {
    if (!connected) upstream.destroy(new Error("timeout"));
  });
  upstream.once("connect", () => {
    connected = true;
    upstream.setTimeout(0);
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
    if (head.length > 0) upstream.write(head);
    socket.pipe(upstream);
    upstream.pipe(socket);
  });
}

function badGateway(socket: Duplex): void {
  if (socket.writable) socket.end("HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n");
  else socket.destroy();
}
