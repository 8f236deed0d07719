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
import { gateLiveUpgrade } from "./live-gate.ts";
import { PopDirectory, targetOf } from "./pop-targets.ts";
import { connect, createServer as createTcpServer, type Socket } from "node:net";

const key = Buffer.alloc(32, 3);
/** Web sign-ins that stand, by id; the rest have ended. */
const ROOT = "a".repeat(64);
const BOB = "b".repeat(64);
const ENDED = "e".repeat(64);
const signIns = new Map([
  [ROOT, { name: "root", role: "admin" as const }],
  [BOB, { name: "bob", role: "user" as const }],
]);
const standing = async (ids: readonly string[]) => new Map(ids.flatMap((id) => (signIns.has(id) ? [[id, signIns.get(id)!] as const] : [])));
let api: ApiServer;
let web: Server;
let webToDown: Server;
const kicks: { id: number; source: string | undefined }[] = [];

/** The web app's relay as serve.ts wires it: the gate, then the proxy to the POP "default" (the only one). */
function relay(port: number, tls: ProxyTarget["tls"] = null): Promise<Server> {
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on("upgrade", (req, socket, head: Buffer) => {
    if (!isLiveUpgrade(req)) return void socket.destroy();
    void gateLiveUpgrade(req, {
      keys: [key],
      standing,
      target: async (pop) => (pop === "default" ? { host: "127.0.0.1", port, path: "/live", tls } : pop === "plain" ? targetOf("http://192.0.2.7:8080", { host: "127.0.0.1", port, path: "/live" }, undefined) : undefined),
    }).then((verdict) => {
      if (verdict.ok) proxyLiveUpgrade(req, socket, head, verdict.target);
      else socket.end(`HTTP/1.1 ${verdict.status} Refused\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    });
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
  api = await startApiServer({ host: "127.0.0.1", port: 0 }, { broker, pop: "default", key, log: silentLogger, standing });
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
  const admin = await LiveClient.connect(port(web), mintToken(key, { sub: "root", role: "admin", sid: ROOT, pop: "default" }), { path });
  const snapshot = await admin.next((m) => m.type === "snapshot");
  assert.deepEqual(snapshot.type === "snapshot" && snapshot.rows.map((r) => r.user), ["alice", "bob"]);
  admin.send({ type: "kick", sessionId: 7 });
  assert.deepEqual(await admin.next((m) => m.type === "kicked"), { type: "kicked", sessionId: 7 });
  assert.deepEqual(kicks.at(-1), { id: 7, source: "127.0.0.1" });
  admin.close();

  const bob = await LiveClient.connect(port(web), mintToken(key, { sub: "bob", role: "user", sid: BOB, pop: "default" }), { path });
  const own = await bob.next((m) => m.type === "snapshot");
  assert.deepEqual(own.type === "snapshot" && own.rows.map((r) => r.user), ["bob"]);
  bob.close();
});

test("the daemon audits a kick with the browser's address the relay names", async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${port(web)}${path}`, ["dtcp-live", mintToken(key, { sub: "root", role: "admin", sid: ROOT, pop: "default" })], {
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
  assert.equal(await LiveClient.refusal(port(web), ["dtcp-live", mintToken(Buffer.alloc(32, 4), { sub: "root", role: "admin", sid: ROOT, pop: "default" })], path), 401);
  assert.equal(await LiveClient.refusal(port(web), ["dtcp-live", mintToken(key, { sub: "root", role: "admin", sid: ROOT, pop: "default" }, 60, Math.floor(Date.now() / 1000) - 600)], path), 401);
  assert.equal(await LiveClient.refusal(port(webToDown), ["dtcp-live", mintToken(key, { sub: "root", role: "admin", sid: ROOT, pop: "default" })], path), 502);
});

test("across hosts the relay reaches a POP's API over TLS, checking its certificate", async () => {
  const pem = selfSignedCertificate();
  const other = selfSignedCertificate();
  const broker = { liveView: () => [], kick: async () => false };
  const remote = await startApiServer({ host: "127.0.0.1", port: 0, tls: { cert: pem.cert, key: pem.key } }, { broker, pop: "default", key, log: silentLogger, standing });
  const trusting = await relay(remote.address.port, { ca: pem.cert });
  const doubting = await relay(remote.address.port, { ca: other.cert });
  const plain = await relay(remote.address.port, null);
  try {
    const token = mintToken(key, { sub: "root", role: "admin", sid: ROOT, pop: "default" });
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
  assert.deepEqual(targetOf("http://127.0.0.1:20201", local, ca), { host: "127.0.0.1", port: 20201, path: "/live", tls: null });
  assert.match(targetOf("http://10.0.0.2:20201", local, ca) as string, /plain http:\/\/ to another host/, "a token in clear across hosts is refused");

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

test("the relay opens nothing to a POP for a token of another POP, an ended sign-in or a POP reached in clear", async () => {
  const token = (sid: string, pop = "default") => ["dtcp-live", mintToken(key, { sub: "root", role: "admin", sid, pop })];
  const before = api.pending + api.viewers;
  assert.equal(await LiveClient.refusal(port(web), token(ROOT, "paris"), `${path}?pop=default`), 403, "a token for paris is not taken for default");
  assert.equal(await LiveClient.refusal(port(web), token(ROOT, "default"), `${path}?pop=paris`), 403);
  assert.equal(await LiveClient.refusal(port(web), token(ENDED), path), 401, "the sign-in has ended");
  assert.equal(await LiveClient.refusal(port(web), token(ROOT, "plain"), `${path}?pop=plain`), 502, "http:// to another host");
  assert.equal(await LiveClient.refusal(port(web), token(ROOT, "nowhere"), `${path}?pop=nowhere`), 404);
  assert.equal(api.pending + api.viewers, before, "the daemon saw none of them");
});

test("a browser's bytes reach the POP only after it accepted the upgrade", async () => {
  // A stand-in POP that refuses every upgrade, after a moment, and records what it got.
  const received: Buffer[] = [];
  const pop = createTcpServer((s: Socket) => {
    s.on("data", (d: Buffer) => received.push(d));
    setTimeout(() => s.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"), 200);
  });
  await new Promise<void>((resolve) => pop.listen(0, "127.0.0.1", resolve));
  const refusing = await relay((pop.address() as AddressInfo).port);
  try {
    const browser = connect({ host: "127.0.0.1", port: port(refusing) });
    const answer = new Promise<string>((resolve) => {
      let text = "";
      browser.on("data", (d: Buffer) => (text += d.toString("latin1")));
      browser.on("close", () => resolve(text));
    });
    const protocol = `dtcp-live, ${mintToken(key, { sub: "root", role: "admin", sid: ROOT, pop: "default" })}`;
    browser.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\nEARLY-BYTES`);
    setTimeout(() => browser.write("LATER-BYTES"), 50);
    assert.match(await answer, /^HTTP\/1\.1 401 /, "the refusal is relayed");
    const got = Buffer.concat(received).toString("latin1");
    assert.match(got, /^GET \/live HTTP\/1\.1\r\n/);
    assert.ok(!got.includes("EARLY-BYTES") && !got.includes("LATER-BYTES"), got);
  } finally {
    refusing.closeAllConnections();
    refusing.close();
    pop.close();
  }
});

test("a POP that answers with an endless status line is a bad gateway once 1 KiB came without a line end", async () => {
  // It never stops sending, so no inactivity timeout would ever end it: only the bound does.
  const pop = createTcpServer((s: Socket) => {
    s.on("error", () => {});
    s.once("data", () => {
      s.write("HTTP/1.1 ");
      const more = setInterval(() => (s.writable ? s.write("9".repeat(256)) : clearInterval(more)), 5);
      s.on("close", () => clearInterval(more));
    });
  });
  await new Promise<void>((resolve) => pop.listen(0, "127.0.0.1", resolve));
  const rambling = await relay((pop.address() as AddressInfo).port);
  try {
    const token = mintToken(key, { sub: "root", role: "admin", sid: ROOT, pop: "default" });
    assert.equal(await LiveClient.refusal(port(rambling), ["dtcp-live", token], path), 502);
  } finally {
    rambling.closeAllConnections();
    rambling.close();
    pop.close();
  }
});
