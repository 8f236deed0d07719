import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { LiveServerMessage } from "../server/api/live.ts";
import { MAX_VIEWERS_PER_USER, startApiServer, type ApiListen, type ApiServer } from "../server/api/server.ts";
import { loadOrCreateApiKey, mintToken, nowSeconds } from "../server/api/token.ts";
import { silentLogger } from "../server/log.ts";
import { WebSessionRepository } from "../server/repositories/web-sessions/repository.ts";
import { TestBroker } from "./support/broker.ts";
import { DtcpClient } from "./support/dtcp-client.ts";
import { isDiff, isSnapshot, LiveClient } from "./support/live-client.ts";
import { ScriptedDataPlane, traffic } from "./support/scripted-data-plane.ts";

const NO_SESSION = "0".repeat(64);
const added = (user: string) => (m: LiveServerMessage) => m.type === "diff" && m.added.some((r) => r.user === user);
const removed = (id: number) => (m: LiveServerMessage) => m.type === "diff" && m.removed.includes(id);

describe("live-session API over a real WebSocket", () => {
  let broker: TestBroker;
  let api: ApiServer;
  let key: Buffer;
  let alice: { name: string; password: string };
  let bob: { name: string; password: string };
  let carol: { name: string; password: string };
  const viewers: LiveClient[] = [];
  const dtcp: DtcpClient[] = [];

  const startApi = (options: Partial<ApiListen> = {}) =>
    startApiServer(
      { host: "127.0.0.1", port: 0, ...options },
      { broker: broker.daemon.broker, pop: "default", key, log: silentLogger, standing: (ids) => new WebSessionRepository(broker.db).standing(ids) },
    );
  const token = async (sub: string, role: "admin" | "user") => mintToken(key, { sub, role, sid: await broker.signedIn(sub, role), pop: "default" });
  const view = async (sub: string, role: "admin" | "user", port = api.address.port) => {
    const viewer = await LiveClient.connect(port, await token(sub, role));
    viewers.push(viewer);
    return viewer;
  };
  const login = async (user: { name: string; password: string }, type = "tunnelonly") => {
    const client = await DtcpClient.connect(broker.port);
    dtcp.push(client);
    const reply = await client.tunnel(user.name, user.password, type);
    assert.match(reply ?? "", /^\+OK /);
    const id = broker.daemon.broker.liveSessions.find((s) => s.userName === user.name)!.id;
    return { client, reply: reply!, id, at: Date.now() };
  };

  const plane = new ScriptedDataPlane();

  before(async () => {
    broker = await TestBroker.start({ dataPlane: () => plane });
    await broker.pool({ cidr: "2001:db8:ffff::/64", purpose: "link" });
    await broker.pool({ cidr: "2001:db8:100::/40", purpose: "delegation", prefixLength: 48, autoDelegate: true });
    key = loadOrCreateApiKey(broker.config.paths.apiKeyFile);
    api = await startApi();
    alice = await broker.user("alice");
    bob = await broker.user("bob");
    carol = await broker.user("carol");
  });
  after(async () => {
    for (const v of viewers) v.close();
    for (const c of dtcp) c.close();
    await api.close();
    await broker.stop();
  });

  test("GET /health answers ok with a token, and nothing answers without one", async () => {
    const base = `http://127.0.0.1:${api.address.port}`;
    const token = mintToken(key, { sub: "root", role: "admin", sid: NO_SESSION, pop: "default" });
    const res = await fetch(`${base}/health`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok");
    for (const path of ["/health", "/live", "/", "/anything"]) {
      assert.equal((await fetch(`${base}${path}`)).status, 401, `${path} without a token`);
      assert.equal((await fetch(`${base}${path}`, { headers: { authorization: "Bearer not.a-token" } })).status, 401, `${path} with a bad token`);
    }
    const expired = mintToken(key, { sub: "root", role: "admin", sid: NO_SESSION, pop: "default" }, 60, nowSeconds() - 120);
    assert.equal((await fetch(`${base}/health`, { headers: { authorization: `Bearer ${expired}` } })).status, 401, "an expired token");
  });

  test("connections without a valid token in the subprotocol header are refused with 401", async () => {
    const port = api.address.port;
    const valid = mintToken(key, { sub: "root", role: "admin", sid: NO_SESSION, pop: "default" });
    assert.equal(await LiveClient.refusal(port, undefined), 401);
    assert.equal(await LiveClient.refusal(port, ["dtcp-live"]), 401);
    assert.equal(await LiveClient.refusal(port, [valid]), 401, "the API name must come first");
    assert.equal(await LiveClient.refusal(port, ["dtcp-live", "not.a-token"]), 401);
    assert.equal(await LiveClient.refusal(port, ["dtcp-live", mintToken(key, { sub: "root", role: "admin", sid: NO_SESSION, pop: "default" }, 60, nowSeconds() - 120)]), 401, "expired");
    assert.equal(await LiveClient.refusal(port, ["dtcp-live", mintToken(Buffer.alloc(32, 9), { sub: "root", role: "admin", sid: NO_SESSION, pop: "default" })]), 401, "another key");
    assert.equal(await LiveClient.refusal(port, undefined, `/live?token=${valid}`), 401, "never from the URL");
    assert.equal(await LiveClient.refusal(port, ["dtcp-live", valid], "/elsewhere"), 404);
  });

  test("an admin sees a login as it happens, with its addresses, and its end", async () => {
    const admin = await view("root", "admin");
    const snapshot = await admin.next(isSnapshot);
    assert.deepEqual(snapshot.rows, []);
    assert.equal(typeof snapshot.at, "number");

    const a = await login(alice);
    const seen = await admin.next(added("alice"));
    assert.ok(isDiff(seen));
    const row = seen.added.find((r) => r.user === "alice")!;
    assert.equal(row.sessionId, a.id);
    assert.deepEqual(
      [row.type, row.transport, row.clientIpv4, row.clientUdpPort, row.serverUdpPort, row.clientIpv6, row.prefix, row.binding, row.bindingDiffers],
      ["tunnelonly", "proto41", "127.0.0.1", null, null, null, null, null, false],
    );
    assert.ok(Math.abs(row.startedAt - a.at) < 2_000);
    assert.equal(row.bytesIn, 0);

    const b = await login(bob, "host");
    const bobRow = (await admin.next(added("bob"))) as Extract<LiveServerMessage, { type: "diff" }>;
    assert.equal(bobRow.added[0]?.clientIpv6, b.reply.split(" ")[3]);
    const c = await login(carol, "network");
    const carolRow = (await admin.next(added("carol"))) as Extract<LiveServerMessage, { type: "diff" }>;
    assert.equal(carolRow.added[0]?.prefix, c.reply.split(" ")[3]);

    for (const session of [a, b, c]) {
      assert.equal(await session.client.command("quit"), "+OK see you soon.");
      await admin.next(removed(session.id));
    }
    assert.equal(admin.rows.size, 0);
  });

  // The figures come from a scripted data plane: what is proved here is that each of its reports
  // reaches viewers as a diff; that real packets move them is the namespace tests' (netns-e2e).
  test("each data-plane report of counters, rates and the NAT binding reaches viewers as a diff", async () => {
    const admin = await view("root", "admin");
    await admin.next(isSnapshot);
    const a = await login(alice);
    await admin.next(added("alice"));
    const changedRow = (pred: (r: LiveServerMessage & { type: "diff" }) => boolean) => (m: LiveServerMessage) => m.type === "diff" && pred(m);

    plane.figures.set(a.id, traffic(10_000, { address: "127.0.0.1", port: null }));
    const first = await admin.next(changedRow((d) => d.changed.some((r) => r.sessionId === a.id && r.bytesIn === 10_000)));
    assert.ok(isDiff(first));
    const row1 = first.changed.find((r) => r.sessionId === a.id)!;
    assert.deepEqual([row1.bytesOut, row1.packetsIn, row1.packetsOut, row1.bindingDiffers], [20_000, 100, 200, false]);

    // A NAT in between: the client's packets now come from another address than its control connection.
    plane.figures.set(a.id, traffic(60_000, { address: "198.51.100.7", port: null }));
    const second = await admin.next(changedRow((d) => d.changed.some((r) => r.sessionId === a.id && r.bytesIn === 60_000)));
    assert.ok(isDiff(second));
    const row2 = second.changed.find((r) => r.sessionId === a.id)!;
    assert.deepEqual(row2.binding, { address: "198.51.100.7", port: null });
    assert.equal(row2.bindingDiffers, true);
    assert.ok(row2.rateIn > 0 && row2.rateOut > row2.rateIn, `rates ${row2.rateIn} / ${row2.rateOut}`);

    assert.equal(await a.client.command("quit"), "+OK see you soon.");
    await admin.next(removed(a.id));
  });

  test("a user sees only their own sessions, in the snapshot and in every diff", async () => {
    const a = await login(alice);
    const admin = await view("root", "admin");
    const user = await view("bob", "user");
    assert.deepEqual((await user.next(isSnapshot)).rows, []);
    assert.equal((await admin.next(isSnapshot)).rows.length, 1);

    const b = await login(bob);
    await user.next(added("bob"));
    await a.client.command("quit");
    await login(alice);
    await admin.next(added("alice"));
    assert.deepEqual([...user.rows.keys()], [b.id]);
    // Bob's own change comes after alice's in the feed: anything about alice would have come first.
    await b.client.command("quit");
    await user.next(removed(b.id));
    const rowsSent = user.messages.flatMap((m) => (m.type === "snapshot" ? m.rows : m.type === "diff" ? [...m.added, ...m.changed] : []));
    assert.ok(rowsSent.every((r) => r.user === "bob"));
    assert.ok(user.messages.every((m) => m.type !== "diff" || !m.removed.includes(a.id)), "nor their removal");
  });

  test("an admin's kick ends the session: -ERR to the client, row gone, ended as kicked, audited", async () => {
    const admin = await view("root", "admin");
    await admin.next(isSnapshot);
    const c = await login(carol);
    await admin.next(added("carol"));

    admin.send({ type: "kick", sessionId: c.id });
    assert.equal(await c.client.readLine(), "-ERR session ended by an administrator");
    await c.client.waitClosed();
    assert.deepEqual(await admin.next((m) => m.type === "kicked" || m.type === "error"), { type: "kicked", sessionId: c.id });
    await admin.next(removed(c.id));

    const row = await broker.db.session.findUniqueOrThrow({ where: { id: c.id } });
    assert.equal(row.endReason, "kicked");
    assert.notEqual(row.endedAt, null);
    const audit = await broker.db.auditLog.findFirstOrThrow({ where: { action: "session.kick" }, orderBy: { id: "desc" } });
    assert.deepEqual([audit.actor, audit.target, audit.source], ["web:root", "carol", "127.0.0.1"]);
    assert.equal(JSON.parse(audit.before ?? "{}").sessionId, c.id);

    admin.send({ type: "kick", sessionId: c.id });
    assert.deepEqual(await admin.next((m) => m.type === "error"), { type: "error", message: "no such live session" });
  });

  test("a user's kick is refused and the session stays", async () => {
    const b = await login(bob);
    const user = await view("bob", "user");
    await user.next(isSnapshot);
    user.send({ type: "kick", sessionId: b.id });
    assert.deepEqual(await user.next((m) => m.type === "error"), { type: "error", message: "forbidden" });
    assert.equal(await b.client.command("ping"), "+OK hi, happy to hear from you");
    assert.ok(broker.daemon.broker.liveSessions.some((s) => s.id === b.id));
    assert.equal((await broker.db.session.findUniqueOrThrow({ where: { id: b.id } })).endedAt, null);
    user.send({ type: "pong" });
    user.ws.send("kick everyone");
    assert.deepEqual(await user.next((m) => m.type === "error"), { type: "error", message: "unknown message" });
  });

  test("viewers are pinged, and dropped when they stop answering", async () => {
    const quick = await startApi({ heartbeatMs: 100, pongTimeoutMs: 300 });
    try {
      const answering = await view("root", "admin", quick.address.port);
      const silent = await LiveClient.connect(quick.address.port, await token("root", "admin"), { autoPong: false });
      viewers.push(silent);
      await answering.next((m) => m.type === "ping");
      await silent.closed();
      assert.equal(answering.ws.readyState, answering.ws.OPEN);
    } finally {
      await quick.close();
    }
  });

  test("a viewer that sends without reading is not read either, and is dropped; its replies never pile up", async () => {
    const quick = await startApi({ heartbeatMs: 200, pongTimeoutMs: 600 });
    try {
      const hog = await LiveClient.connect(quick.address.port, await token("carol", "user"), { autoPong: false });
      viewers.push(hog);
      await hog.next(isSnapshot);
      const socket = (hog.ws as unknown as { _socket: import("node:net").Socket })._socket;
      socket.pause();
      let sent = 0;
      // Messages each of which earns an error reply; our own socket backs up once the daemon stops reading.
      const junk = "x".repeat(4_000);
      while (hog.ws.bufferedAmount < 4 << 20 && sent < 50_000) {
        hog.ws.send(junk);
        sent++;
        if (sent % 100 === 0) await new Promise((r) => setImmediate(r));
      }
      assert.ok(hog.ws.bufferedAmount >= 4 << 20, `the daemon read all ${sent} messages of a viewer that reads nothing`);
      const until = Date.now() + 5_000;
      while (quick.viewers > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      assert.equal(quick.viewers, 0, "the silent viewer is dropped");
      hog.ws.terminate();
    } finally {
      await quick.close();
    }
  });

  test("an open viewer is dropped once its sign-in no longer stands: signed out, disabled, or no longer an administrator", async () => {
    const quick = await startApi({ standingCheckMs: 100 });
    try {
      const open = async (name: string, role: "admin" | "user") => {
        const viewer = await LiveClient.connect(quick.address.port, await token(name, role));
        viewers.push(viewer);
        await viewer.next(isSnapshot);
        return viewer;
      };
      const users = broker.users();
      const signedOut = await open("dora", "user");
      const disabled = await open("erin", "user");
      const demoted = await open("frank", "admin");
      const staying = await open("gail", "admin");
      await new WebSessionRepository(broker.db).endAll("dora", { name: "test" });
      await users.setDisabled("erin", true, { name: "test" });
      await broker.db.user.update({ where: { name: "frank" }, data: { role: "user" } });
      for (const v of [signedOut, disabled, demoted]) assert.equal(await v.closed(), 4001);
      assert.equal(staying.ws.readyState, staying.ws.OPEN);
    } finally {
      await quick.close();
    }
  });

  test("a kick is refused, and its viewer closed, once the administrator is disabled, before any periodic check", async () => {
    const slow = await startApi({ standingCheckMs: 3_600_000 });
    try {
      const victim = await login(carol);
      const viewer = await LiveClient.connect(slow.address.port, await token("ivan", "admin"));
      viewers.push(viewer);
      await viewer.next(isSnapshot);
      await broker.users().setDisabled("ivan", true, { name: "test" });
      viewer.send({ type: "kick", sessionId: victim.id });
      assert.equal(await viewer.closed(), 4001);
      assert.equal(await victim.client.command("ping"), "+OK hi, happy to hear from you", "the session was not kicked");
    } finally {
      await slow.close();
    }
  });

  test("one user holds a bounded number of viewers; the oldest goes when another opens", async () => {
    const opened: LiveClient[] = [];
    for (let i = 0; i < MAX_VIEWERS_PER_USER + 1; i++) {
      const viewer = await LiveClient.connect(api.address.port, await token("hank", "user"));
      viewers.push(viewer);
      opened.push(viewer);
      await viewer.next(isSnapshot);
    }
    assert.equal(await opened[0]!.closed(), 1008);
    for (const v of opened.slice(1)) assert.equal(v.ws.readyState, v.ws.OPEN);
  });

  test("closing the server closes its viewers with 1001", async () => {
    const other = await startApi();
    const viewer = await view("root", "admin", other.address.port);
    await viewer.next(isSnapshot);
    await other.close();
    assert.equal(await viewer.closed(), 1001);
  });
});

describe("live-session API of two POPs' daemons on one database", () => {
  let east: TestBroker;
  let west: TestBroker;
  let eastApi: ApiServer;
  let westApi: ApiServer;
  let key: Buffer;

  before(async () => {
    east = await TestBroker.start();
    west = await TestBroker.start({ sharing: east, pop: { name: "west" } });
    key = loadOrCreateApiKey(east.config.paths.apiKeyFile);
    const deps = (b: TestBroker, pop: string) => ({ broker: b.daemon.broker, pop, key, log: silentLogger, standing: (ids: readonly string[]) => new WebSessionRepository(east.db).standing(ids) });
    eastApi = await startApiServer({ host: "127.0.0.1", port: 0 }, deps(east, "default"));
    westApi = await startApiServer({ host: "127.0.0.1", port: 0 }, deps(west, "west"));
  });
  after(async () => {
    await eastApi.close();
    await westApi.close();
    await west.stop();
    await east.stop();
  });

  test("a token minted for one POP is refused (403) by the other, and taken by its own", async () => {
    await east.user("root", { role: "admin", pop: "default" });
    const sid = await east.signedIn("root", "admin");
    const forWest = mintToken(key, { sub: "root", role: "admin", sid, pop: "west" });
    assert.equal(await LiveClient.refusal(eastApi.address.port, ["dtcp-live", forWest]), 403, "replayed at another POP");
    const viewer = await LiveClient.connect(westApi.address.port, forWest);
    assert.equal((await viewer.next(isSnapshot)).type, "snapshot");
    viewer.close();
  });

  test("a token whose sign-in has ended is refused when it connects, not at the next re-check", async () => {
    await east.user("ann", { role: "admin", pop: "default" });
    const sid = await east.signedIn("ann", "admin");
    const token = mintToken(key, { sub: "ann", role: "admin", sid, pop: "default" });
    await new WebSessionRepository(east.db).endAll("ann", { name: "test" });
    assert.equal(await LiveClient.refusal(eastApi.address.port, ["dtcp-live", token]), 401);
    assert.equal(eastApi.viewers, 0);
  });
});

describe("live-session API connection limits", () => {
  test("silent connections and half-done TLS handshakes cost a bounded number, are cut after the handshake timeout, and a viewer still gets in", async () => {
    const { selfSignedCertificate } = await import("./support/tls.ts");
    const { connect } = await import("node:net");
    const pem = selfSignedCertificate();
    const broker = await TestBroker.start();
    const key = loadOrCreateApiKey(broker.config.paths.apiKeyFile);
    const api = await startApiServer(
      { host: "127.0.0.1", port: 0, tls: { cert: pem.cert, key: pem.key }, limits: { maxUnauthenticatedPerAddress: 4, maxUnauthenticated: 8 }, handshakeTimeoutMs: 1_000 },
      { broker: broker.daemon.broker, pop: "default", key, log: silentLogger, standing: (ids) => new WebSessionRepository(broker.db).standing(ids) },
    );
    const sockets: import("node:net").Socket[] = [];
    const closed = new Set<number>();
    const open = (localAddress: string, bytes?: Buffer) => {
      const i = sockets.length;
      const s = connect({ host: "127.0.0.1", port: api.address.port, localAddress });
      s.on("error", () => {});
      s.on("close", () => closed.add(i));
      // The first bytes of a TLS ClientHello, and no more: a handshake left half done.
      if (bytes) s.on("connect", () => s.write(bytes));
      sockets.push(s);
    };
    const waitFor = async (check: () => boolean, what: string) => {
      for (const until = Date.now() + 10_000; !check(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    };
    try {
      for (let i = 0; i < 10; i++) open("127.0.7.1", i % 2 === 0 ? Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]) : undefined);
      await waitFor(() => closed.size >= 6, "one address's connections past its share to be refused");
      assert.equal(api.pending, 4, "one address holds its share");
      for (let a = 2; a < 6; a++) for (let i = 0; i < 4; i++) open(`127.0.7.${a}`);
      await waitFor(() => api.cut.evicted >= 12, "the busiest addresses to make room");
      assert.ok(api.pending <= 8, `${api.pending} pending in all`);
      const token = mintToken(key, { sub: "vic", role: "admin", sid: await broker.signedIn("vic", "admin"), pop: "default" });
      const { default: WebSocket } = await import("ws");
      const ws = new WebSocket(`wss://127.0.0.1:${api.address.port}/live`, ["dtcp-live", token], { ca: pem.cert, localAddress: "127.0.8.1" });
      const first = await new Promise<string>((resolve, reject) => {
        ws.once("message", (data) => resolve(String(data)));
        ws.once("unexpected-response", (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
        ws.once("error", reject);
      });
      assert.equal(JSON.parse(first).type, "snapshot", "a real viewer gets in during the flood");
      ws.close();
      await waitFor(() => closed.size === sockets.length, "every silent or half-done connection to be cut by the handshake timeout");
      await waitFor(() => api.pending === 0, "nothing left pending");
    } finally {
      for (const s of sockets) s.destroy();
      await api.close();
      await broker.stop();
      pem.cleanup();
    }
  });
});
