import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import type { LiveSessionView } from "../broker/broker.ts";
import { startApiServer, type ApiServer } from "../api/server.ts";
import { mintToken } from "../api/token.ts";
import { silentLogger } from "../log.ts";
import { LiveClient } from "../../test/support/live-client.ts";
import { isLiveUpgrade, LIVE_PROXY_PATH, proxyLiveUpgrade } from "./live-proxy.ts";

const key = Buffer.alloc(32, 3);
let api: ApiServer;
let web: Server;
let webToDown: Server;
const kicks: { id: number; source: string | undefined }[] = [];

function relay(port: number): Promise<Server> {
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (req, socket, head: Buffer) => {
    if (isLiveUpgrade(req)) proxyLiveUpgrade(req, socket, head, { host: "127.0.0.1", port, path: "/live" });
    else socket.destroy();
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

before(async () => {
  const sessions = [{ id: 7, userName: "alice" }, { id: 8, userName: "bob" }].map(
    (s): LiveSessionView => ({
      ...s,
      type: "tunnelonly",
      transport: "udp",
      clientIpv4: "192.0.2.1",
      clientUdpPort: null,
      serverUdpPort: 4028,
      clientIpv6: null,
      prefix: null,
      startedAt: new Date(0),
      stats: null,
    }) as unknown as LiveSessionView,
  );
  const broker = { liveView: () => sessions, kick: async (id: number, actor: { source?: string }) => (kicks.push({ id, source: actor.source }), id === 7) };
  api = await startApiServer({ host: "127.0.0.1", port: 0 }, { broker, key, log: silentLogger, standing: async (ids) => new Map(ids.map((id) => [id, { name: "root", role: "admin" as const }])) });
  web = await relay(api.address.port);
  // A relay to a port nobody listens on.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  webToDown = await relay(deadPort);
});
after(async () => {
  web.closeAllConnections();
  web.close();
  webToDown.close();
  await api.close();
});

const port = (s: Server) => (s.address() as AddressInfo).port;
const path = LIVE_PROXY_PATH;

test("the relay carries the live view both ways, per viewer", async () => {
  const admin = await LiveClient.connect(port(web), mintToken(key, { sub: "root", role: "admin", sid: "0".repeat(64) }), { path });
  const snapshot = await admin.next((m) => m.type === "snapshot");
  assert.deepEqual(snapshot.type === "snapshot" && snapshot.rows.map((r) => r.user), ["alice", "bob"]);
  admin.send({ type: "kick", sessionId: 7 });
  assert.deepEqual(await admin.next((m) => m.type === "kicked"), { type: "kicked", sessionId: 7 });
  assert.deepEqual(kicks.at(-1), { id: 7, source: "127.0.0.1" });
  admin.close();

  const bob = await LiveClient.connect(port(web), mintToken(key, { sub: "bob", role: "user", sid: "0".repeat(64) }), { path });
  const own = await bob.next((m) => m.type === "snapshot");
  assert.deepEqual(own.type === "snapshot" && own.rows.map((r) => r.user), ["bob"]);
  bob.close();
});

test("the daemon audits a kick with the browser's address the relay names", async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${port(web)}${path}`, ["dtcp-live", mintToken(key, { sub: "root", role: "admin", sid: "0".repeat(64) })], {
    headers: { "X-Forwarded-For": "198.51.100.23, 10.0.0.1", Cookie: "broker_session=secret" },
  });
  await new Promise((resolve) => ws.once("message", resolve));
  ws.send(JSON.stringify({ type: "kick", sessionId: 7 }));
  await new Promise((resolve) => ws.once("message", resolve));
  assert.deepEqual(kicks.at(-1), { id: 7, source: "198.51.100.23" });
  ws.terminate();
});

test("refusals pass through: no, forged and expired tokens get 401; a dead daemon 502", async () => {
  assert.equal(await LiveClient.refusal(port(web), undefined, path), 401);
  assert.equal(await LiveClient.refusal(port(web), ["dtcp-live", mintToken(Buffer.alloc(32, 4), { sub: "root", role: "admin", sid: "0".repeat(64) })], path), 401);
  assert.equal(await LiveClient.refusal(port(web), ["dtcp-live", mintToken(key, { sub: "root", role: "admin", sid: "0".repeat(64) }, 60, Math.floor(Date.now() / 1000) - 600)], path), 401);
  assert.equal(await LiveClient.refusal(port(webToDown), ["dtcp-live", mintToken(key, { sub: "root", role: "admin", sid: "0".repeat(64) })], path), 502);
});
