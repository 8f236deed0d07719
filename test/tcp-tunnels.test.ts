// IPv6 over TCP, the control side: a proto=tcp login gets a port and a token, a second connection
// presents the token to become the session's data connection, and either connection closing ends
// both. Over plain TCP and over TLS (the DTCP exchange inside it too). No packets are carried here
// (no data plane); test/netns-tcp.test.ts carries them.
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { TestBroker } from "./support/broker.ts";
import { DtcpClient } from "./support/dtcp-client.ts";
import { eventually } from "./support/processes.ts";

const TOKEN = /^\+OK 127\.0\.0\.1 127\.0\.0\.1 tcp=(\d+) token=([0-9a-f]{32})$/;

describe("IPv6 over TCP: logins, tokens and data connections", () => {
  let broker: TestBroker;
  let plain: TestBroker;
  let alice: { name: string; password: string };
  const clients: DtcpClient[] = [];
  const open = async (port: number, tls = false) => {
    const client = await DtcpClient.connect(port, "kame", "127.0.0.1", tls);
    clients.push(client);
    return client;
  };
  const reasons = async (user: string) => (await broker.storage.sessions.list({ userName: user })).map((s) => s.endReason);
  // A row's end is written just after the connections close: wait for it rather than race it.
  const endsAs = async (user: string, want: (string | null)[]) => {
    let got: (string | null)[] = [];
    await eventually(`${user}'s rows to end as ${want.join(", ")}`, async () => {
      got = await reasons(user);
      return JSON.stringify(got) === JSON.stringify(want);
    }, 5000).catch(() => assert.deepEqual(got, want));
  };

  before(async () => {
    broker = await TestBroker.start({
      tunnels: { tcp: { host: "127.0.0.1", port: 0 }, tls: { host: "127.0.0.1", port: 0, certFile: null, keyFile: null } },
    });
    plain = await TestBroker.start();
    alice = await broker.user("alice");
  });
  after(async () => {
    for (const c of clients) c.close();
    await broker.stop();
    await plain.stop();
  });

  const tunnelPorts = () => broker.daemon.control.tunnelPorts;

  test("a daemon without --tcp-tunnels says so; a user not allowed tcp is refused as a wrong password would be", async () => {
    const bob = await plain.user("bob");
    const control = await DtcpClient.connect(plain.port);
    clients.push(control);
    assert.equal(await control.tunnel(bob.name, bob.password, "tunnelonly", "proto=tcp"), "-ERR TCP tunnels are not enabled on this server (dtcps --tcp-tunnels)");
    const carol = await broker.user("carol", { allowedTransports: ["udp", "proto41"] });
    const refused = await open(broker.port);
    assert.equal(await refused.tunnel(carol.name, carol.password, "tunnelonly", "proto=tcp"), "-ERR authentication failed.");
  });

  test("a login names the TCP port and a token; the token attaches one data connection; closing it ends the session", async () => {
    const control = await open(broker.port);
    const reply = await control.tunnel(alice.name, alice.password, "tunnelonly", "proto=tcp");
    const [, port, token] = TOKEN.exec(reply ?? "") ?? assert.fail(reply ?? "no reply");
    assert.equal(Number(port), tunnelPorts().tcp, "the control came on the main port: attach on the TCP tunnel port");
    const data = await open(Number(port));
    assert.equal(await data.attach(token!), "+OK attached");
    const thief = await open(Number(port));
    assert.equal(await thief.attach(token!), "-ERR unknown or expired token", "a token attaches once");
    await thief.waitClosed();
    assert.equal(await control.command("ping"), "+OK hi, happy to hear from you");
    data.close();
    assert.equal(await control.readLine(), "-ERR tunnel connection closed: the client closed the tunnel connection");
    await control.waitClosed();
    await endsAs("alice", ["tunnel-lost"]);
  });

  test("closing the control connection closes the data connection", async () => {
    const control = await open(broker.port);
    const [, port, token] = TOKEN.exec((await control.tunnel(alice.name, alice.password, "tunnelonly", "proto=tcp")) ?? "")!;
    const data = await open(Number(port));
    assert.equal(await data.attach(token!), "+OK attached");
    control.close();
    await data.waitClosed();
    await endsAs("alice", ["closed", "tunnel-lost"]);
  });

  test("attach is refused on the main port, with a made-up token, and from another address than the login's", async () => {
    const control = await open(broker.port);
    const [, port, token] = TOKEN.exec((await control.tunnel(alice.name, alice.password, "tunnelonly", "proto=tcp")) ?? "")!;
    const main = await open(broker.port);
    assert.equal(await main.attach(token!), "-ERR attach only on a TCP tunnel port");
    const made = await open(Number(port));
    assert.equal(await made.attach("0".repeat(32)), "-ERR unknown or expired token");
    const elsewhere = await DtcpClient.connect(Number(port), "kame", "127.0.0.2");
    clients.push(elsewhere);
    assert.equal(await elsewhere.attach(token!), "-ERR unknown or expired token");
    const data = await open(Number(port));
    assert.equal(await data.attach(token!), "+OK attached", "the token is still good for the session's own address");
    control.close();
  });

  test("over TLS, login and data connection both inside TLS; the reply names the TLS port", async () => {
    const control = await open(tunnelPorts().tls!, true);
    assert.match(control.greeting, /^\+OK [0-9A-F]{32} KAME tunnel server$/);
    const [, port, token] = TOKEN.exec((await control.tunnel(alice.name, alice.password, "tunnelonly", "proto=tcp")) ?? "") ?? assert.fail("no TLS reply");
    assert.equal(Number(port), tunnelPorts().tls);
    const data = await open(Number(port), true);
    assert.equal(await data.attach(token!), "+OK attached");
    data.close();
    assert.match((await control.readLine()) ?? "", /^-ERR tunnel connection closed/);
  });

  test("connections still in their TLS handshake count against the unauthenticated limits; one done hands its place over", async () => {
    const tight = await TestBroker.start({
      tunnels: { tcp: null, tls: { host: "127.0.0.1", port: 0, certFile: null, keyFile: null } },
      abuse: { maxUnauthenticatedPerAddress: 2 },
    });
    const silent: Socket[] = [];
    try {
      const port = tight.daemon.control.tunnelPorts.tls!;
      // Two that never start a handshake take the address's two places.
      for (let i = 0; i < 2; i++) silent.push(await connected(port));
      const third = await connected(port);
      await new Promise((resolve) => third.once("close", resolve));
      assert.equal(tight.daemon.control.counters.refusedPerAddress, 1, "the third is cut at once");
      // One place freed: a real client's handshake and greeting get through, and once it is in,
      // its handshake no longer counts twice.
      silent.pop()!.destroy();
      // Once the daemon has seen that close (not after a guessed pause), a client gets in.
      let client: DtcpClient | null = null;
      for (const until = Date.now() + 10_000; client === null && Date.now() < until; ) {
        client = await DtcpClient.connect(port, "kame", "127.0.0.1", true).catch(() => null);
        if (client === null) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(client, "a place was freed");
      clients.push(client);
      assert.match(client.greeting, /^\+OK [0-9A-F]{32} KAME tunnel server$/);
      const dora = await tight.user("dora");
      assert.match((await client.tunnel(dora.name, dora.password, "tunnelonly")) ?? "", /^\+OK /);
      // Authenticated: the place is free again for the next connection.
      const next = await DtcpClient.connect(port, "kame", "127.0.0.1", true);
      clients.push(next);
      assert.match(next.greeting, /^\+OK /);
    } finally {
      for (const s of silent) s.destroy();
      await tight.stop();
    }
  });

  test("at the daemon-wide cap, a connection still in its TLS handshake is evicted like the others: the oldest of the busiest address", async () => {
    const tight = await TestBroker.start({
      tunnels: { tcp: null, tls: { host: "127.0.0.1", port: 0, certFile: null, keyFile: null } },
      abuse: { maxUnauthenticated: 3, maxUnauthenticatedPerAddress: 3 },
    });
    const silent: Socket[] = [];
    try {
      const port = tight.daemon.control.tunnelPorts.tls!;
      // Three from one address fill the daemon's places, none of them starting its handshake.
      for (let i = 0; i < 3; i++) silent.push(await connectedFrom(port, "127.0.0.2"));
      const oldestClosed = new Promise((resolve) => silent[0]!.once("close", resolve));
      const client = await DtcpClient.connect(port, "kame", "127.0.0.3", true);
      clients.push(client);
      assert.match(client.greeting, /^\+OK [0-9A-F]{32} KAME tunnel server$/, "the newcomer from another address is served");
      await oldestClosed;
      assert.equal(tight.daemon.control.counters.evicted, 1);
      assert.equal(silent[1]!.destroyed || silent[1]!.readableEnded, false, "only the oldest went");
    } finally {
      for (const s of silent) s.destroy();
      await tight.stop();
    }
  });

  test("a session whose data connection never comes ends after the attach timeout", async () => {
    const quick = await TestBroker.start({ tunnels: { tcp: { host: "127.0.0.1", port: 0 }, tls: null }, attachTimeoutMs: 300 });
    try {
      const dora = await quick.user("dora");
      const control = await DtcpClient.connect(quick.port);
      clients.push(control);
      assert.match((await control.tunnel(dora.name, dora.password, "tunnelonly", "proto=tcp")) ?? "", TOKEN);
      assert.equal(await control.readLine(2_000), "-ERR no tunnel connection attached in time");
      await control.waitClosed();
      await eventually("dora's row ended as timeout", async () => {
        const got = (await quick.storage.sessions.list({ userName: "dora" })).map((s) => s.endReason);
        return JSON.stringify(got) === JSON.stringify(["timeout"]);
      }, 5000);
    } finally {
      await quick.stop();
    }
  });
});

function connectedFrom(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1", localAddress }, () => resolve(socket));
    socket.once("error", reject);
  });
}

function connected(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(socket));
    socket.once("error", reject);
  });
}
