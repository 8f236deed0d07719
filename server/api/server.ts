// The daemon's live-session API for the web UI: GET /health, and a WebSocket at /live streaming the
// live sessions (a snapshot, then diffs) and taking kicks from administrators. Nothing answers
// without a valid token: for the WebSocket it goes in the Sec-WebSocket-Protocol header as
// "dtcp-live, <token>", for plain requests as "Authorization: Bearer <token>", never in the URL, so
// it stays out of access logs. A viewer's token is checked when connecting, and the sign-in it came
// from is checked again every few seconds for as long as the viewer stays. Across hosts the API is
// served over TLS (certificate and key files).

import { createServer, type IncomingMessage, type RequestListener, type Server } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { AdmissionLimits } from "../control/admission.ts";
import { boundedHttpOptions, limitConnections } from "../net/connection-limits.ts";
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
  /** How often open viewers' sign-ins are checked again. */
  standingCheckMs?: number;
  /** Serve over TLS with this certificate chain and key (PEM). */
  tls?: { cert: Buffer; key: Buffer } | null;
  /** Connections not yet an authenticated viewer (in their TLS handshake, or before their request), per address and in all. */
  limits?: AdmissionLimits;
  /** A TLS handshake, or a request's headers, not done by then: the connection is closed. */
  handshakeTimeoutMs?: number;
}

/**
 * The API is for the web app, which opens a connection per viewer and upgrades it at once: a few
 * connections at a time are waiting on their handshake or request, never hundreds.
 */
export const DEFAULT_API_LIMITS: AdmissionLimits = { maxUnauthenticatedPerAddress: 32, maxUnauthenticated: 256 };
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Whether the web sign-in behind a viewer still stands, and with which role; null when it does not. */
export type ViewerStanding = (webSessionIds: readonly string[]) => Promise<Map<string, Viewer>>;

export interface ApiDeps {
  broker: Pick<Broker, "liveView" | "kick">;
  /** This daemon's POP: tokens minted for another POP are refused. */
  pop: string;
  /** Re-checks open viewers now and then: signed out, disabled, removed or demoted viewers are dropped. */
  standing: ViewerStanding;
  /** The 32-byte token key (loadOrCreateApiKey). */
  key: Buffer;
  /** During a rotation, keys that tokens may still be signed with. */
  previousKeys?: readonly Buffer[];
  log: Logger;
  /** Epoch ms; tests move it. */
  now?: () => number;
}

export interface ApiServer {
  readonly address: AddressInfo;
  /** Open live views. */
  readonly viewers: number;
  /** Connections that are not (yet) a viewer: in their handshake or before their request. */
  readonly pending: number;
  /** Connections refused because their address held its share, and closed to make room. */
  readonly cut: { perAddress: number; evicted: number };
  close(): Promise<void>;
}

const SAMPLE_MS = 500;
const HEARTBEAT_MS = 15_000;
const PONG_TIMEOUT_MS = 30_000;
// Kick messages are tiny; anything bigger is not a message of this API.
const MAX_MESSAGE_BYTES = 4096;
// A viewer this far behind gets no new diffs until it catches up (the next one covers what it
// missed), and its own messages are not read until then, so it cannot queue replies either.
export const SOFT_BUFFERED_BYTES = 256 << 10;
// Past this, whatever filled it, the viewer is dropped: it has stopped reading.
export const MAX_BUFFERED_BYTES = 1 << 20;
/** Live-view connections one user may hold at once; the oldest goes when another opens. */
export const MAX_VIEWERS_PER_USER = 8;
const CLOSE_GRACE_MS = 1000;
const STANDING_CHECK_MS = 5_000;

interface Connection {
  readonly ws: WebSocket;
  readonly viewer: Viewer;
  readonly source: string;
  /** The web sign-in this viewer came from (the token's sid). */
  readonly webSessionId: string;
  /** The rows this viewer has been sent, to diff against. */
  sent: LiveRow[];
  /** When the oldest unanswered ping went out; null when the viewer has answered. */
  awaitingPongSince: number | null;
}

export async function startApiServer(listen: ApiListen, deps: ApiDeps): Promise<ApiServer> {
  const { broker, key, log } = deps;
  const keys = [key, ...(deps.previousKeys ?? [])];
  if (keys.some((k) => k.length !== KEY_BYTES)) throw new SecretKeyError(`an API key is ${KEY_BYTES} bytes`);
  /** A token signed with any of the keys; the first key's verdict when none accepts it. */
  const verify = (token: string, at: number) => {
    const checks = keys.map((k) => verifyToken(k, token, at));
    return checks.find((c) => c.ok) ?? checks[0]!;
  };
  const now = deps.now ?? Date.now;
  const sampler = new LiveSampler();
  const connections = new Set<Connection>();
  const sample = () => sampler.sample(broker.liveView(), now());

  const handler: RequestListener = (req, res) => {
    const path = pathOf(req);
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
    const check = bearer === undefined ? null : verify(bearer, Math.floor(now() / 1000));
    if (check === null || !check.ok) {
      res.writeHead(401, { "content-type": "text/plain", "www-authenticate": "Bearer" }).end("a token is needed\n");
    } else if (path === "/health" && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(200, { "content-type": "text/plain" }).end(req.method === "HEAD" ? undefined : "ok");
    } else if (path === LIVE_PATH) {
      res.writeHead(426, { upgrade: "websocket", "content-type": "text/plain" }).end("a WebSocket endpoint\n");
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  };
  const bounded = boundedHttpOptions(listen.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS);
  const http: Server = listen.tls ? createTlsServer({ ...bounded, cert: listen.tls.cert, key: listen.tls.key }, handler) : createServer(bounded, handler);
  const limits = limitConnections(http, listen.limits ?? DEFAULT_API_LIMITS, "live API", (m) => log.warn(m));

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
    const check = token === null ? null : verify(token, Math.floor(now() / 1000));
    if (check === null || !check.ok) {
      log.info(`live API: refused a connection from ${source}: ${check === null ? "no token" : `token ${check.reason}`}`);
      return refuse(socket, 401, "Unauthorized");
    }
    if (check.claims.pop !== deps.pop) {
      log.info(`live API: refused a connection from ${source}: its token is for the POP ${check.claims.pop}, not ${deps.pop}`);
      return refuse(socket, 403, "Forbidden");
    }
    const viewer: Viewer = { name: check.claims.sub, role: check.claims.role };
    const webSessionId = check.claims.sid;
    // The sign-in behind the token must stand now, not only at the next re-check.
    deps.standing([webSessionId]).then(
      (standing) => {
        if (socket.destroyed) return;
        if (!stillStands(standing.get(webSessionId), viewer)) {
          log.info(`live API: refused a connection from ${source}: the sign-in of ${viewer.name} behind its token has ended`);
          return refuse(socket, 401, "Unauthorized");
        }
        limits.admitted(socket);
        wss.handleUpgrade(req, socket, head, (ws) => accept(ws, viewer, webSessionId, source));
      },
      (err: unknown) => {
        log.warn(`live API: checking a viewer's sign-in failed: ${(err as Error).message}`);
        refuse(socket, 503, "Service Unavailable");
      },
    );
  });

  function accept(ws: WebSocket, viewer: Viewer, webSessionId: string, source: string): void {
    if (connections.size === 0) sampler.reset();
    const mine = [...connections].filter((c) => c.viewer.name === viewer.name);
    if (mine.length >= MAX_VIEWERS_PER_USER) {
      log.info(`live API: ${viewer.name} opened more than ${MAX_VIEWERS_PER_USER} viewers; the oldest is closed`);
      drop(mine[0]!, 1008, "too many live views open");
    }
    const connection: Connection = { ws, viewer, webSessionId, source, sent: visibleTo(sample(), viewer), awaitingPongSince: null };
    connections.add(connection);
    log.info(`live API: ${viewer.role} ${viewer.name} connected from ${source}`);
    // Only an answer to a ping shows the viewer reads; any other message could be sent blind.
    const alive = () => (connection.awaitingPongSince = null);
    ws.on("pong", alive);
    ws.on("message", (data: RawData, isBinary: boolean) => {
      // One message at a time: the next is not read until this one is answered and the answer
      // can go out, so a viewer that sends without reading fills only its own socket.
      ws.pause();
      void receive(connection, isBinary ? null : data.toString()).finally(() => resumeIfCaughtUp(connection));
    });
    ws.on("error", (err) => log.debug(`live API: ${viewer.name} from ${source}: ${err.message}`));
    ws.on("close", () => {
      connections.delete(connection);
      log.debug(`live API: ${viewer.name} from ${source} disconnected`);
    });
    send(connection, { type: "snapshot", rows: connection.sent, at: now() });
  }

  /** Every message to a viewer goes through here, so no kind of message can pile up unread. */
  function send(c: Connection, message: LiveServerMessage): void {
    if (c.ws.readyState !== c.ws.OPEN) return;
    if (c.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      log.info(`live API: ${c.viewer.name} from ${c.source} dropped: ${c.ws.bufferedAmount} bytes unread`);
      return drop(c, null);
    }
    c.ws.send(JSON.stringify(message));
  }

  function drop(c: Connection, code: number | null, reason = ""): void {
    connections.delete(c);
    if (code === null) c.ws.terminate();
    else {
      c.ws.close(code, reason);
      setTimeout(() => c.ws.terminate(), CLOSE_GRACE_MS).unref();
    }
  }

  function resumeIfCaughtUp(c: Connection): void {
    if (connections.has(c) && c.ws.isPaused && c.ws.bufferedAmount <= SOFT_BUFFERED_BYTES) c.ws.resume();
  }

  async function receive(connection: Connection, text: string | null): Promise<void> {
    const { viewer, source } = connection;
    const message = text === null ? null : parseClientMessage(text);
    if (message === null) return send(connection, { type: "error", message: "unknown message" });
    if (message.type === "pong") {
      connection.awaitingPongSince = null;
      return;
    }
    if (viewer.role !== "admin") return send(connection, { type: "error", message: "forbidden" });
    // A kick acts with the viewer's authority now, not when it connected.
    const current = (await deps.standing([connection.webSessionId])).get(connection.webSessionId);
    if (current?.role !== "admin" || current.name !== viewer.name) {
      log.info(`live API: kick by ${viewer.name} from ${source} refused: no longer signed in as an administrator`);
      drop(connection, 4001, "signed out");
      return;
    }
    let kicked: boolean;
    try {
      kicked = await broker.kick(message.sessionId, { name: `web:${viewer.name}`, source });
    } catch (err) {
      log.warn(`live API: kick of session ${message.sessionId} by ${viewer.name} failed: ${(err as Error).message}`);
      return send(connection, { type: "error", message: "the kick failed" });
    }
    if (!kicked) return send(connection, { type: "error", message: "no such live session" });
    log.info(`live API: ${viewer.name} kicked session ${message.sessionId}`);
    send(connection, { type: "kicked", sessionId: message.sessionId });
  }

  const sampling = setInterval(() => {
    if (connections.size === 0) return;
    const rows = sample();
    for (const c of connections) {
      resumeIfCaughtUp(c);
      if (c.ws.bufferedAmount > SOFT_BUFFERED_BYTES) continue;
      const visible = visibleTo(rows, c.viewer);
      const diff = diffRows(c.sent, visible);
      if (isEmptyDiff(diff)) continue;
      c.sent = visible;
      send(c, { type: "diff", ...diff, at: now() });
    }
  }, listen.sampleMs ?? SAMPLE_MS).unref();

  const pongTimeoutMs = listen.pongTimeoutMs ?? PONG_TIMEOUT_MS;
  const heartbeat = setInterval(() => {
    const at = now();
    for (const c of connections) {
      if (c.awaitingPongSince !== null && at - c.awaitingPongSince >= pongTimeoutMs) {
        log.info(`live API: ${c.viewer.name} from ${c.source} stopped answering; dropped`);
        drop(c, null);
        continue;
      }
      c.awaitingPongSince ??= at;
      send(c, { type: "ping" });
      if (connections.has(c)) c.ws.ping();
    }
  }, listen.heartbeatMs ?? HEARTBEAT_MS).unref();

  // A viewer's token was good when it connected; whether its sign-in still stands is asked again
  // and again: signed out, disabled, removed or no longer an administrator, it is dropped.
  let checking = false;
  const recheck = async () => {
    if (checking || connections.size === 0) return;
    checking = true;
    try {
      const open = [...connections];
      const standing = await deps.standing([...new Set(open.map((c) => c.webSessionId))]);
      for (const c of open) {
        const current = standing.get(c.webSessionId);
        if (stillStands(current, c.viewer)) continue;
        if (!connections.has(c)) continue;
        log.info(`live API: ${c.viewer.name} from ${c.source} dropped: ${current === undefined ? "signed out, disabled or removed" : "no longer an administrator"}`);
        drop(c, 4001, "signed out");
      }
    } catch (err) {
      log.warn(`live API: checking viewers' sign-ins failed: ${(err as Error).message}`);
    } finally {
      checking = false;
    }
  };
  const standingTimer = setInterval(() => void recheck(), listen.standingCheckMs ?? STANDING_CHECK_MS).unref();

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(listen.port, listen.host, () => {
      http.off("error", reject);
      resolve();
    });
  });

  return {
    address: http.address() as AddressInfo,
    get viewers() {
      return connections.size;
    },
    get pending() {
      return limits.pending;
    },
    cut: limits.cut,
    close: async () => {
      clearInterval(sampling);
      clearInterval(heartbeat);
      clearInterval(standingTimer);
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

/** The sign-in is still the viewer's, with the role the token gave or more (a user's token stays a user's view). */
function stillStands(current: Viewer | undefined, viewer: Viewer): boolean {
  return current !== undefined && current.name === viewer.name && (current.role === viewer.role || viewer.role === "user");
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? "").split("?")[0] ?? "";
}

/** The token from "dtcp-live, <token>": the API's name, then the token, nothing else. */
export function tokenOf(header: string | undefined): string | null {
  const parts = (header ?? "").split(",").map((p) => p.trim());
  return parts.length === 2 && parts[0] === LIVE_PROTOCOL && parts[1] !== "" ? parts[1]! : null;
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n`);
}
