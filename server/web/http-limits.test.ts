// The web app's HTTP limits over real sockets on loopback, on a plain Node server that reads
// bodies as Next does: what a stranger can make it hold, and that a signed-in administrator and
// ordinary visitors are served meanwhile.
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { WebGuard, webLimitsFromEnv, type WebLimits } from "./http-limits.ts";

const ADMIN_COOKIE = "broker_session=admin-token";

async function start(limits: Partial<WebLimits>): Promise<{ server: Server; guard: WebGuard; port: number; bodies: number[]; handled: string[] }> {
  const guard = new WebGuard(
    { maxBodyBytes: 64 << 10, requestTimeoutMs: 30_000, maxPerAddress: 64, maxConnections: 1024, reserve: 4, maxBodyBytesHeld: 16 << 20, maxBodyBytesHeldPerAddress: 100 << 10, ...limits },
    { uncounted: (a) => a === "127.0.0.1", signedInAdmin: async (req) => req.headers.cookie === ADMIN_COOKIE, log: () => {} },
  );
  const bodies: number[] = [];
  const handled: string[] = [];
  const server = createServer(guard.serverOptions, (req, res) => {
    guard.accept(req, res, () => {
      handled.push(req.url ?? "");
      // As Next does: the whole body, then the answer.
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("error", () => {});
      req.on("end", () => {
        bodies.push(Buffer.concat(chunks).length);
        // A page that takes a while to render.
        if (req.url === "/slow") setTimeout(() => res.end("ok"), 1_500);
        else if (!res.headersSent) res.end("ok");
      });
    });
  });
  server.on("connection", (s: Socket) => guard.admit(s));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, guard, port: (server.address() as AddressInfo).port, bodies, handled };
}

/** A raw connection from `localAddress`; `answer` resolves with everything it got once it closes. */
function raw(port: number, localAddress: string): { socket: Socket; answer: Promise<string>; closed: () => boolean; received: () => string } {
  const socket = connect({ host: "127.0.0.1", port, localAddress });
  let text = "";
  let done = false;
  socket.on("error", () => {});
  socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
  const answer = new Promise<string>((resolve) => socket.on("close", () => ((done = true), resolve(text))));
  return { socket, answer, closed: () => done, received: () => text };
}

function get(port: number, localAddress: string, cookie?: string, path = "/"): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, localAddress, path, headers: cookie ? { cookie } : {}, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

const waitFor = async (check: () => boolean, what: string, ms = 10_000) => {
  for (const until = Date.now() + ms; !check(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
};

describe("request bodies", () => {
  let web: Awaited<ReturnType<typeof start>>;
  before(async () => (web = await start({})));
  after(() => web.server.close());

  test("a declared body over the limit is refused with 413 before a byte of it is read", async () => {
    const c = raw(web.port, "127.0.1.1");
    c.socket.write(`POST /sign-in HTTP/1.1\r\nHost: x\r\nContent-Length: ${16 << 20}\r\n\r\n`);
    assert.match(await c.answer, /^HTTP\/1\.1 413 Payload Too Large\r\n/);
    assert.equal(web.bodies.length, 0, "the handler never ran");
  });

  test("a chunked body is counted as it arrives: past the limit it is cut with 413 and the handler got no more than the limit", async () => {
    const c = raw(web.port, "127.0.1.2");
    c.socket.write("POST /sign-in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    const chunk = Buffer.alloc(16 << 10, 0x61);
    for (let i = 0; i < 64 && !c.closed(); i++) {
      c.socket.write(`${chunk.length.toString(16)}\r\n`);
      c.socket.write(chunk);
      c.socket.write("\r\n");
      await new Promise((r) => setImmediate(r));
    }
    assert.match(await c.answer, /^HTTP\/1\.1 413 /);
    assert.equal(web.guard.counters.bodyTooLarge, 2);
    assert.deepEqual(web.bodies, [], "no body over the limit reached the handler whole");
  });

  test("a body a lying Content-Length understates is cut the same way; a body within the limit is served", async () => {
    const c = raw(web.port, "127.0.1.3");
    // Node reads exactly Content-Length bytes as the body; what follows is a second request, itself bounded.
    c.socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${1 << 20}\r\n\r\n`);
    const answer = await c.answer;
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(answer, /HTTP\/1\.1 413 /);
    assert.deepEqual(web.bodies, [10]);
  });
});

describe("bodies arriving at once", () => {
  let web: Awaited<ReturnType<typeof start>>;
  before(async () => (web = await start({ maxBodyBytesHeld: 200 << 10 })));
  after(() => {
    web.server.closeAllConnections();
    web.server.close();
  });

  test("bodies that stall short of their end hold a bounded number of bytes, per address and in all; past it 503, and a finished body frees its share", async () => {
    const stalled = (address: string) => {
      const c = raw(web.port, address);
      c.socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${60 << 10}\r\n\r\n`);
      c.socket.write(Buffer.alloc(55 << 10, 0x62));
      return c;
    };
    const first = stalled("127.0.8.1");
    await waitFor(() => web.guard.bodyBytesHeld === 55 << 10, "the first body's bytes to count");
    const second = stalled("127.0.8.1");
    assert.match(await second.answer, /^HTTP\/1\.1 503 Service Unavailable\r\n/, "the address's share is 100 KiB");
    const others = [stalled("127.0.8.2"), stalled("127.0.8.3")];
    await waitFor(() => web.guard.bodyBytesHeld === 165 << 10, "two more addresses' bodies to count");
    assert.match(await stalled("127.0.8.4").answer, /^HTTP\/1\.1 503 /, "200 KiB in all");
    first.socket.write(Buffer.alloc(5 << 10, 0x62));
    assert.match(await new Promise<string>((resolve) => first.socket.once("data", (d: Buffer) => resolve(d.toString("latin1")))), /^HTTP\/1\.1 200 OK/);
    await waitFor(() => web.guard.bodyBytesHeld === 110 << 10, "the finished body to free its share");
    for (const c of [first, ...others]) c.socket.destroy();
    await waitFor(() => web.guard.bodyBytesHeld === 0, "closed connections to free theirs");
  });
});

describe("slow requests and connection caps", () => {
  let web: Awaited<ReturnType<typeof start>>;
  before(async () => (web = await start({ requestTimeoutMs: 1_500, maxPerAddress: 8, maxConnections: 40, reserve: 2 })));
  after(() => {
    web.server.closeAllConnections();
    web.server.close();
  });

  test("a request trickled a byte at a time is cut at the request timeout", async () => {
    const c = raw(web.port, "127.0.2.1");
    c.socket.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    const trickle = setInterval(() => c.socket.writable && c.socket.write("a"), 200);
    const started = Date.now();
    const answer = await c.answer;
    clearInterval(trickle);
    assert.match(answer, /^HTTP\/1\.1 408 /, "Node answers 408 Request Timeout");
    assert.ok(Date.now() - started < 10_000);
  });

  test("one address holds its share; a flood from many holds the total; an administrator and a plain visitor are served throughout", async () => {
    const held: ReturnType<typeof raw>[] = [];
    const slow = (address: string) => {
      const c = raw(web.port, address);
      c.socket.on("connect", () => c.socket.write("POST /trickle HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"));
      held.push(c);
      return c;
    };
    for (let i = 0; i < 20; i++) slow("127.0.3.1");
    const rendering = get(web.port, "127.0.6.2", undefined, "/slow");
    await waitFor(() => held.filter((c) => c.closed()).length >= 12, "the address's connections past its share to be refused");
    assert.equal(web.guard.waiting, 8);

    // An administrator's connection joins the reserve with its first request.
    const admin = raw(web.port, "127.0.4.1");
    admin.socket.write(`GET / HTTP/1.1\r\nHost: x\r\nCookie: ${ADMIN_COOKIE}\r\n\r\n`);
    await waitFor(() => web.guard.reserved === 1, "the administrator's connection to be reserved");

    // One connection from each of many addresses: without the reserve the administrator's, the
    // oldest of them all, would be the first to go.
    for (let a = 0; a < 80; a++) slow(`127.0.5.${a + 1}`);
    await waitFor(() => web.guard.counters.evicted > 0, "room to be made");
    assert.ok(web.guard.waiting <= 40, `${web.guard.waiting} connections counted`);
    assert.equal(await get(web.port, "127.0.6.1"), 200, "a visitor with one connection is served during the flood");
    assert.equal(await rendering, 200, "a request being answered is not pushed out by the flood");
    assert.ok(!web.handled.includes("/trickle"), "no request still arriving reached the handler");
    admin.socket.write(`GET / HTTP/1.1\r\nHost: x\r\nCookie: ${ADMIN_COOKIE}\r\n\r\n`);
    await waitFor(() => admin.received().split("HTTP/1.1 200 OK").length === 3 || admin.closed(), "the administrator's second answer");
    assert.equal(admin.closed(), false, "the flood did not push the administrator out");
    for (const c of held) c.socket.destroy();
    admin.socket.destroy();
  });
});

test("limits from the environment are checked and named", () => {
  assert.equal(webLimitsFromEnv({ BROKER_WEB_MAX_CONNECTIONS: "200", BROKER_WEB_REQUEST_TIMEOUT: "5" }).maxConnections, 200);
  assert.equal(webLimitsFromEnv({ BROKER_WEB_REQUEST_TIMEOUT: "5" }).requestTimeoutMs, 5_000);
  assert.throws(() => webLimitsFromEnv({ BROKER_WEB_MAX_PER_ADDRESS: "0" }), /BROKER_WEB_MAX_PER_ADDRESS must be a number from 1/);
});

test("IPv6 peers count by their /64: a host cycling through its addresses gets one share", async () => {
  const { EventEmitter } = await import("node:events");
  const guard = new WebGuard(
    { maxBodyBytes: 1024, requestTimeoutMs: 1_000, maxPerAddress: 4, maxConnections: 100, reserve: 0, maxBodyBytesHeld: 1 << 20, maxBodyBytesHeldPerAddress: 1 << 20 },
    { uncounted: (a) => a === "::1", signedInAdmin: async () => false, log: () => {} },
  );
  const peer = (remoteAddress: string) => Object.assign(new EventEmitter(), { remoteAddress, destroyed: false, destroy() { this.destroyed = true; } });
  const mine = Array.from({ length: 6 }, (_, i) => peer(`2001:db8:1:2::${i + 1}`));
  for (const s of mine) guard.admit(s as unknown as Socket);
  assert.deepEqual(mine.map((s) => s.destroyed), [false, false, false, false, true, true]);
  const neighbour = peer("2001:db8:1:3::1");
  guard.admit(neighbour as unknown as Socket);
  assert.equal(neighbour.destroyed, false, "the next /64 has a share of its own");
  const proxy = Array.from({ length: 6 }, () => peer("::1"));
  for (const s of proxy) guard.admit(s as unknown as Socket);
  assert.ok(proxy.every((s) => !s.destroyed), "the reverse proxy's address is not counted");
});
