// The daemon's live-session API for the web UI: GET /health, and a WebSocket at /live streaming the
// live sessions (a snapshot, then diffs) and taking kicks from administrators. The token goes in
// the Sec-WebSocket-Protocol header as "dtcp-live, <token>", never in the URL, so it stays out of
// access logs; it is checked when connecting only.

import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import type { Broker } from "../broker/broker.ts";
import type { Logger } from "../log.ts";
import { unmapIpv4 } from "../net/ipv4.ts";
import { KEY_BYTES, SecretKeyError } from "../secrets/key-file.ts";
import { diffRows, isEmptyDiff, LiveSampler, parseClientMessage, visibleTo, type LiveRow, type LiveServerMessage, type Viewer } from "./live.ts";
import { verifyToken } from "./token.ts";

export const LIVE_PATH = "/live";
export const LIVE_PROTOCOL = "dtcp-live";

export interface ApiListen {
  host: string;
  port: number;
  /** How often the live view is sampled and changes sent (a change shows within 1 s). */
  sampleMs?: number;
  /** How often viewers are pinged. */
  heartbeatMs?: number;
  /** A viewer that has not answered a ping for this long is dropped. */
  pongTimeoutMs?: number;
}

export interface ApiDeps {
  broker: Pick<Broker, "liveView" | "kick">;
  /** The 32-byte token key (loadOrCreateApiKey). */
  key: Buffer;
  log: Logger;
  /** Epoch ms; tests move it. */
  now?: () => number;
}

export interface ApiServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

const SAMPLE_MS = 500;
const HEARTBEAT_MS = 15_000;
const PONG_TIMEOUT_MS = 30_000;
// Kick messages are tiny; anything bigger is not a message of this API.
const MAX_MESSAGE_BYTES = 4096;
// A viewer this far behind gets no new diffs until it catches up; the next one covers what it missed.
const MAX_BUFFERED_BYTES = 1 << 20;
const CLOSE_GRACE_MS = 1000;

interface Connection {
  readonly ws: WebSocket;
  readonly viewer: Viewer;
  readonly source: string;
  /** The rows this viewer has been sent, to diff against. */
  sent: LiveRow[];
  /** When the oldest unanswered ping went out; null when the viewer has answered. */
  awaitingPongSince: number | null;
}

export async function startApiServer(listen: ApiListen, deps: ApiDeps): Promise<ApiServer> {
  const { broker, key, log } = deps;
  if (key.length !== KEY_BYTES) throw new SecretKeyError(`an API key is ${KEY_BYTES} bytes`);
  const now = deps.now ?? Date.now;
  const sampler = new LiveSampler();
  const connections = new Set<Connection>();
  const sample = () => sampler.sample(broker.liveView(), now());
  const send = (ws: WebSocket, message: LiveServerMessage) => ws.send(JSON.stringify(message));

  const http: Server = createServer((req, res) => {
    const path = pathOf(req);
    if (path === "/health" && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(200, { "content-type": "text/plain" }).end(req.method === "HEAD" ? undefined : "ok");
    } else if (path === LIVE_PATH) {
      res.writeHead(426, { upgrade: "websocket", "content-type": "text/plain" }).end("a WebSocket endpoint\n");
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: MAX_MESSAGE_BYTES,
    // Answer with the API's name only: the token is not echoed back.
    handleProtocols: () => LIVE_PROTOCOL,
  });

  http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => {});
    const source = sourceOf(req, unmapIpv4((socket as Socket).remoteAddress ?? ""));
    if (pathOf(req) !== LIVE_PATH) return refuse(socket, 404, "Not Found");
    const token = tokenOf(req.headers["sec-websocket-protocol"]);
    const check = token === null ? null : verifyToken(key, token, Math.floor(now() / 1000));
    if (check === null || !check.ok) {
      log.info(`live API: refused a connection from ${source}: ${check === null ? "no token" : `token ${check.reason}`}`);
      return refuse(socket, 401, "Unauthorized");
    }
    const viewer: Viewer = { name: check.claims.sub, role: check.claims.role };
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, viewer, source));
  });

  function accept(ws: WebSocket, viewer: Viewer, source: string): void {
    if (connections.size === 0) sampler.reset();
    const connection: Connection = { ws, viewer, source, sent: visibleTo(sample(), viewer), awaitingPongSince: null };
    connections.add(connection);
    log.info(`live API: ${viewer.role} ${viewer.name} connected from ${source}`);
    const alive = () => (connection.awaitingPongSince = null);
    ws.on("pong", alive);
    ws.on("message", (data: RawData, isBinary: boolean) => {
      alive();
      void receive(connection, isBinary ? null : data.toString());
    });
    ws.on("error", (err) => log.debug(`live API: ${viewer.name} from ${source}: ${err.message}`));
    ws.on("close", () => {
      connections.delete(connection);
      log.debug(`live API: ${viewer.name} from ${source} disconnected`);
    });
    send(ws, { type: "snapshot", rows: connection.sent, at: now() });
  }

  async function receive(connection: Connection, text: string | null): Promise<void> {
    const { ws, viewer, source } = connection;
    const message = text === null ? null : parseClientMessage(text);
    if (message === null) return send(ws, { type: "error", message: "unknown message" });
    if (message.type === "pong") return;
    if (viewer.role !== "admin") return send(ws, { type: "error", message: "forbidden" });
    let kicked: boolean;
    try {
      kicked = await broker.kick(message.sessionId, { name: `web:${viewer.name}`, source });
    } catch (err) {
      log.warn(`live API: kick of session ${message.sessionId} by ${viewer.name} failed: ${(err as Error).message}`);
      return send(ws, { type: "error", message: "the kick failed" });
    }
    if (!kicked) return send(ws, { type: "error", message: "no such live session" });
    log.info(`live API: ${viewer.name} kicked session ${message.sessionId}`);
    send(ws, { type: "kicked", sessionId: message.sessionId });
  }

  const sampling = setInterval(() => {
    if (connections.size === 0) return;
    const rows = sample();
    for (const c of connections) {
      if (c.ws.bufferedAmount > MAX_BUFFERED_BYTES) continue;
      const visible = visibleTo(rows, c.viewer);
      const diff = diffRows(c.sent, visible);
      if (isEmptyDiff(diff)) continue;
      c.sent = visible;
      send(c.ws, { type: "diff", ...diff, at: now() });
    }
  }, listen.sampleMs ?? SAMPLE_MS).unref();

  const pongTimeoutMs = listen.pongTimeoutMs ?? PONG_TIMEOUT_MS;
  const heartbeat = setInterval(() => {
    const at = now();
    for (const c of connections) {
      if (c.awaitingPongSince !== null && at - c.awaitingPongSince >= pongTimeoutMs) {
        log.info(`live API: ${c.viewer.name} from ${c.source} stopped answering; dropped`);
        c.ws.terminate();
        continue;
      }
      c.awaitingPongSince ??= at;
      send(c.ws, { type: "ping" });
      c.ws.ping();
    }
  }, listen.heartbeatMs ?? HEARTBEAT_MS).unref();

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(listen.port, listen.host, () => {
      http.off("error", reject);
      resolve();
    });
  });

  return {
    address: http.address() as AddressInfo,
    close: async () => {
      clearInterval(sampling);
      clearInterval(heartbeat);
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      for (const c of connections) c.ws.close(1001, "dtcps stopping");
      // Viewers get a moment to complete the closing handshake, then their sockets go.
      const grace = setTimeout(() => {
        for (const c of connections) c.ws.terminate();
      }, CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
    },
  };
}

/**
 * Who connects, for logs and the audit of kicks. Browsers come through the web app's relay on
 * loopback, which names the browser's address in X-Forwarded-For; that header is believed from
 * loopback peers only.
 */
function sourceOf(req: IncomingMessage, peer: string): string {
  const forwarded = req.headers["x-forwarded-for"];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim();
  const loopback = peer.startsWith("127.") || peer === "::1";
  return loopback && first && /^[0-9A-Fa-f.:]{2,45}$/.test(first) ? first : peer;
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? "").split("?")[0] ?? "";
}

/** The token from "dtcp-live, <token>": the API's name, then the token, nothing else. */
function tokenOf(header: string | undefined): string | null {
  const parts = (header ?? "").split(",").map((p) => p.trim());
  return parts.length === 2 && parts[0] === LIVE_PROTOCOL && parts[1] !== "" ? parts[1]! : null;
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n`);
}
