// The web app's process: Next.js (the production build in .next) behind a plain Node HTTP server
// that also relays WebSocket upgrades at /api/live to a daemon's live-session API (the local one,
// or with ?pop=<name> that POP's, over TLS across hosts), so browsers reach the live view on the
// web app's own origin (and through the same reverse proxy).
//
// Environment: BROKER_WEB_LISTEN (host:port), BROKER_API_LISTEN (the local daemon's API,
// host:port), BROKER_POP_CA_FILE (PEM certificates that remote POPs' https:// APIs are checked
// against; the system's CAs otherwise), BROKER_TRUSTED_PROXIES (reverse proxies not on loopback
// whose X-Forwarded-* headers count; see forwarded.ts).

import { EventEmitter } from "node:events";
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { apiTarget, DEFAULT_API_LISTEN } from "../launch/api-listen.ts";
import { followLauncher } from "../launch/lifeline.ts";
import { DEFAULT_WEB_LISTEN, parseListen } from "../launch/listen.ts";
import { FIXED_SECURITY_HEADERS, HSTS } from "./security-headers.ts";
import { parseTrustedProxies, settleForwardedHeaders } from "./forwarded.ts";
import { readFileSync } from "node:fs";
import { resolvePaths } from "../config.ts";
import { openStorage, type Storage } from "../storage/storage.ts";
import { isLiveUpgrade, proxyLiveUpgrade } from "./live-proxy.ts";
import { WebGuard, webLimitsFromEnv } from "./http-limits.ts";
import { DatabaseHealth, isStatic, unavailable } from "./database-health.ts";
import { gateLiveUpgrade } from "./live-gate.ts";
import { PopDirectory, targetOf } from "./pop-targets.ts";
import { loadOrCreateApiKey } from "../api/token.ts";
import { loadKeyFile } from "../secrets/key-file.ts";
import { hashToken } from "../secrets/token.ts";
import type { Socket } from "node:net";

// Next's own type declarations are kept out of the server code (they retype process.env), so the
// little of its API used here is declared by hand.
interface NextApp {
  prepare(): Promise<void>;
  getRequestHandler(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  close(): Promise<void>;
}
type NextFactory = (options: { dev: boolean; dir: string; hostname: string; port: number; httpServer: EventEmitter }) => NextApp;

const appDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const next = createRequire(import.meta.url)("next") as NextFactory;

const listen = parseListen(process.env.BROKER_WEB_LISTEN ?? DEFAULT_WEB_LISTEN);
const target = apiTarget(process.env.BROKER_API_LISTEN ?? DEFAULT_API_LISTEN);
let trustedProxies: string[];
let popCa: Buffer | undefined;
try {
  trustedProxies = parseTrustedProxies(process.env.BROKER_TRUSTED_PROXIES);
  popCa = process.env.BROKER_POP_CA_FILE ? readFileSync(process.env.BROKER_POP_CA_FILE) : undefined;
} catch (err) {
  process.stderr.write(`web: ${(err as Error).message}\n`);
  process.exit(1);
}
// Before Next or the relay reads them: the client's address and scheme as far as they can be believed.
const settle = (req: IncomingMessage): void =>
  settleForwardedHeaders(req.headers, req.socket.remoteAddress, "encrypted" in req.socket && req.socket.encrypted === true, trustedProxies);

// After a server action redirects, Next renders the target by fetching it from itself at an origin
// it builds from X-Forwarded-Proto and its own listen address: behind a TLS proxy that is
// https://127.0.0.1:<port>, which speaks plain HTTP. This is the origin it uses instead.
process.env.__NEXT_PRIVATE_ORIGIN = `http://${selfHost(listen.host)}:${listen.port}`;

// Next attaches its own upgrade listener (for development's hot reload) to the server it is given;
// this one is a stand-in, so that upgrades are handled here only.
const app = next({ dev: false, dir: appDir, hostname: listen.host, port: listen.port, httpServer: new EventEmitter() });
await quietly(/Running next\.config/, () => app.prepare());
const handle = app.getRequestHandler();

let limits;
try {
  limits = webLimitsFromEnv(process.env);
} catch (err) {
  process.stderr.write(`web: ${(err as Error).message}\n`);
  process.exit(1);
}
const SESSION_COOKIE = /(?:^|;\s*)broker_session=([^;]+)/;
const guard = new WebGuard(limits, {
  // The reverse proxy in front: its clients are its to limit.
  uncounted: (address) => address === "127.0.0.1" || address === "::1" || trustedProxies.includes(address),
  signedInAdmin: async (req) => {
    const token = SESSION_COOKIE.exec(req.headers.cookie ?? "")?.[1];
    if (token === undefined) return false;
    const id = hashToken(decodeURIComponent(token));
    return (await (await repositories()).webSessions.standing([id])).get(id)?.role === "admin";
  },
  log: (message) => process.stderr.write(`web: ${message}\n`),
});
setInterval(() => guard.sweep(), 60_000).unref();

const server = createServer(guard.serverOptions, (req, res) => {
  settle(req);
  for (const [name, value] of Object.entries(FIXED_SECURITY_HEADERS)) res.setHeader(name, value);
  if (req.headers["x-forwarded-proto"] === "https") res.setHeader("Strict-Transport-Security", HSTS);
  if (health.problem !== null && !isStatic(req)) return unavailable(res);
  // Next gets the request once it has arrived whole, within the limits.
  guard.accept(req, res, () =>
    handle(req, res).catch((err: unknown) => {
      if (guard.wasCut(req)) return;
      process.stderr.write(`web: ${req.method} ${req.url}: ${err instanceof Error ? err.stack : String(err)}\n`);
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end();
    }),
  );
});
// The database (the POPs' API addresses, viewers' sign-ins), opened once a live view is asked for.
let storage: Promise<Storage> | null = null;
const repositories = () => {
  storage ??= openStorage(resolvePaths().databaseUrl, resolvePaths()).catch((err: unknown) => {
    storage = null;
    throw err;
  });
  return storage;
};
const pops = new PopDirectory(async () => (await repositories()).pops.list());
const health = new DatabaseHealth(async () => (await repositories()).ping(), (message) => process.stderr.write(`web: ${message}\n`));
health.start();
// The key the web app mints live tokens with (and, during a rotation, the one before it).
let tokenKeys: Buffer[] | null = null;
const keys = () => (tokenKeys ??= [loadOrCreateApiKey(resolvePaths().apiKeyFile), ...(resolvePaths().previousApiKeyFile ? [loadKeyFile(resolvePaths().previousApiKeyFile!)] : [])]);
const refusal = (status: number) => `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
server.on("connection", (socket: Socket) => guard.admit(socket));
server.on("upgrade", (req: IncomingMessage, socket, head: Buffer) => {
  socket.on("error", () => {});
  settle(req);
  if (!isLiveUpgrade(req)) return void socket.end(refusal(404));
  gateLiveUpgrade(req, {
    keys: keys(),
    standing: async (ids) => (await repositories()).webSessions.standing(ids),
    target: async (pop) => {
      const apiUrl = await pops.apiUrl(pop);
      return apiUrl === undefined ? undefined : targetOf(apiUrl, target, popCa);
    },
  }).then(
    (verdict) => {
      if (socket.destroyed) return;
      if (verdict.ok) {
        // An administrator's live view keeps its place during a flood.
        if (verdict.role === "admin") guard.reserve(socket as Socket);
        return proxyLiveUpgrade(req, socket, head, verdict.target);
      }
      if (verdict.status === 502) process.stderr.write(`web: live view refused: ${verdict.why}\n`);
      socket.end(refusal(verdict.status));
    },
    (err: unknown) => {
      process.stderr.write(`web: checking a live view: ${(err as Error).message}\n`);
      socket.end(refusal(503));
    },
  );
});

try {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
} catch (err) {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === "EADDRINUSE" ? "the address is in use (by another broker or web server?): stop that, or set BROKER_WEB_LISTEN to another host:port" : (err as Error).message;
  process.stderr.write(`web: cannot listen on ${listen.host}:${listen.port}: ${why}\n`);
  process.exit(1);
}
process.stdout.write(`web: listening on ${listen.host}:${listen.port}; live view relayed to ${target.host}:${target.port}${target.path}\n`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections();
  void app.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 5_000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
followLauncher();

/** Runs work with console lines matching `drop` left out: Next announces at every start how long its config took to load. */
async function quietly<T>(drop: RegExp, work: () => Promise<T>): Promise<T> {
  const log = console.log;
  console.log = (...args: unknown[]) => {
    if (!args.some((a) => typeof a === "string" && drop.test(a))) log(...args);
  };
  try {
    return await work();
  } finally {
    console.log = log;
  }
}

/** How this process reaches its own listener. */
function selfHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}
