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
import { selfSignedCertificate } from "../../test/support/tls.ts";
import { isLiveUpgrade, LIVE_PROXY_PATH, proxyLiveUpgrade, type ProxyTarget } from "./live-proxy.ts";
import { PopDirectory, targetOf } from "./pop-targets.ts";

const key = Buffer.alloc(32, 3);
let api: ApiServer;
let web: Server;
let webToDown: Server;
const kicks: { id: number; source: string | undefined }[] = [];

function relay(port: number, tls: ProxyTarget["tls"] = null): Promise<Server> {
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (req, socket, head: Buffer) => {
    if (isLiveUpgrade(req)) proxyLiveUpgrade(req, socket, head, { host: "127.0.0.1", port, path: "/live", tls });
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

test("across hosts the relay reaches a POP's API over TLS, checking its certificate", async () => {
  const pem = selfSignedCertificate();
  const other = selfSignedCertificate();
  const broker = { liveView: () => [], kick: async () => false };
  const remote = await startApiServer({ host: "127.0.0.1", port: 0, tls: { cert: pem.cert, key: pem.key } }, { broker, key, log: silentLogger, standing: async () => new Map() });
  const trusting = await relay(remote.address.port, { ca: pem.cert });
  const doubting = await relay(remote.address.port, { ca: other.cert });
  const plain = await relay(remote.address.port, null);
  try {
    const token = mintToken(key, { sub: "root", role: "admin", sid: "0".repeat(64) });
    const viewer = await LiveClient.connect(port(trusting), token, { path });
    assert.equal((await viewer.next((m) => m.type === "snapshot")).type, "snapshot");
    viewer.close();
    assert.equal(await LiveClient.refusal(port(doubting), ["dtcp-live", token], path), 502, "a certificate the CA did not sign is refused");
    assert.equal(await LiveClient.refusal(port(plain), ["dtcp-live", token], path), 502, "plain HTTP to a TLS port fails");
    assert.equal(await LiveClient.refusal(port(trusting), ["dtcp-live", "forged"], path), 401, "and over TLS, no valid token, no answer");
  } finally {
    for (const s of [trusting, doubting, plain]) {
      s.closeAllConnections();
      s.close();
    }
    await remote.close();
    pem.cleanup();
    other.cleanup();
  }
});

test("a POP's API URL becomes the relay's target; no URL is the local daemon", async () => {
  const local = { host: "127.0.0.1", port: 20201, path: "/live" };
  const ca = Buffer.from("ca");
  assert.equal(targetOf(null, local, ca), local);
  assert.deepEqual(targetOf("https://pop2.example.net:8443", local, ca), { host: "pop2.example.net", port: 8443, path: "/live", tls: { ca } });
  assert.deepEqual(targetOf("https://pop3.example.net", local, undefined), { host: "pop3.example.net", port: 443, path: "/live", tls: { ca: undefined } });
  assert.deepEqual(targetOf("http://10.0.0.2:20201", local, ca), { host: "10.0.0.2", port: 20201, path: "/live", tls: null });

  let now = 0;
  let loads = 0;
  const pops = [{ name: "default", apiUrl: null as string | null }];
  const directory = new PopDirectory(async () => (loads++, [...pops]), () => now);
  assert.equal(await directory.apiUrl("default"), null);
  assert.equal(await directory.apiUrl("paris"), undefined, "no such POP");
  pops.push({ name: "paris", apiUrl: "https://paris.example.net:8443" });
  assert.equal(await directory.apiUrl("paris"), undefined, "still the cached list");
  now += 6_000;
  assert.equal(await directory.apiUrl("paris"), "https://paris.example.net:8443", "a new POP is found within seconds");
  assert.equal(loads, 2);
});
