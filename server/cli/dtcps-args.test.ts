import assert from "node:assert/strict";
import { test } from "node:test";
import { NoDataPlane } from "../dataplane/types.ts";
import { UserspaceDataPlane } from "../dataplane/userspace.ts";
import { UsageError } from "./args.ts";
import { parseDtcpsArgs } from "./dtcps-args.ts";

const env = { BROKER_DATA_DIR: "/var/lib/dtcp" };

test("defaults follow dtcps(8): port 20200, UDP base 4028, 60 s / 300 s timeouts", () => {
  const c = parseDtcpsArgs(["--no-dataplane"], env);
  assert.equal(c.port, 20200);
  assert.equal(c.udpBasePort, 4028);
  assert.equal(c.udpEnabled, false);
  assert.equal(c.host, "0.0.0.0");
  assert.deepEqual([c.timeouts.authMs, c.timeouts.idleMs], [60_000, 300_000]);
  assert.equal(c.paths.databaseUrl, "file:/var/lib/dtcp/broker.db");
  assert.equal(c.paths.secretKeyFile, "/var/lib/dtcp/secret.key");
  assert.equal(c.metrics, null);
  assert.equal(c.api, null);
  assert.ok(c.dataPlane([]) instanceof NoDataPlane);
});

test("without --no-dataplane the userspace data plane carries packets, routing every pool to its TUN", () => {
  const c = parseDtcpsArgs(["--listen", "192.0.2.1", "--tun-name", "tb0", "--tun-mtu", "1400", "--relaxed-outer-source", "--metrics", "9100"], env);
  const plane = c.dataPlane(["2001:db8::/48", "2001:db8:1::/64"]);
  assert.ok(plane instanceof UserspaceDataPlane);
  assert.match(plane.description, /TUN tb0 \(MTU 1400\), 2 pool\(s\) routed to it, UDP on 192\.0\.2\.1, outer source relaxed/);
  assert.deepEqual(c.metrics, { host: "127.0.0.1", port: 9100 });
  assert.deepEqual(parseDtcpsArgs(["--metrics", "0.0.0.0:9101"], env).metrics, { host: "0.0.0.0", port: 9101 });
  assert.deepEqual(parseDtcpsArgs(["--api-listen", "20201"], env).api, { host: "127.0.0.1", port: 20201, tls: null });
  assert.deepEqual(parseDtcpsArgs(["--api-listen", "0.0.0.0:8443", "--api-tls-cert", "c.pem", "--api-tls-key", "k.pem"], env).api, {
    host: "0.0.0.0",
    port: 8443,
    tls: { certFile: "c.pem", keyFile: "k.pem" },
  });
  assert.match(parseDtcpsArgs([], env).dataPlane([]).description, /TUN dtcp0 \(MTU 1280\).*outer source strict/);
});

test("--pop names the POP this daemon is; one-box installs leave it out and are the POP default", () => {
  const plain = parseDtcpsArgs([], env);
  assert.deepEqual(plain.pop, { name: "default", apiUrl: null, lostAfterMs: 30_000 });
  const pop = parseDtcpsArgs(["--pop", "paris", "--api-url", "https://paris.example.net:8443/", "--pop-lost-after", "10"], env).pop;
  assert.deepEqual(pop, { name: "paris", apiUrl: "https://paris.example.net:8443", lostAfterMs: 10_000 });
});

test("short options combine as in dtcps(8); the prefix is positional", () => {
  const c = parseDtcpsArgs(["-dU", "-b", "5000", "-p", "2020", "--no-dataplane", "--public-ipv4", "192.0.2.1", "--idle-timeout", "0.5", "2001:db8::/64"], env);
  assert.deepEqual([c.verbose, c.udpEnabled, c.udpBasePort, c.port, c.publicIpv4, c.linkPrefix, c.timeouts.idleMs], [true, true, 5000, 2020, "192.0.2.1", "2001:db8::/64", 500]);
});

test("bad values are usage errors naming the option", () => {
  const cases: [string[], RegExp][] = [
    [["--no-dataplane", "-p", "http"], /-p must be a number from 0 to/],
    [["--no-dataplane", "-b", "0"], /-b must be a number from 1/],
    [["--no-dataplane", "--public-ipv4", "2001:db8::1"], /--public-ipv4 must be an IPv4 address/],
    [["--no-dataplane", "--auth-timeout=-1"], /--auth-timeout must be a number/],
    [["--no-dataplane", "--frobnicate"], /Unknown option '--frobnicate'/],
    [["--no-dataplane", "a", "b"], /one prefix at most/],
    [["--tun-mtu", "1500"], /--tun-mtu must be a number from 1280 to 1480/],
    [["--workers", "0"], /--workers must be a number from 1 to 64/],
    [["--workers", "many"], /--workers must be a number from 1 to 64/],
    [["--tun-name", "a-name-far-too-long"], /--tun-name must be 1 to 15/],
    [["--metrics", "localhost:9100"], /--metrics wants \[IPv4:\]port/],
    [["--metrics", "70000"], /--metrics must be a number from 0 to 65535/],
    [["--listen", "::1"], /--listen must be an IPv4 address/],
    [["--pop", "Paris 1"], /--pop: POP names are/],
    [["--api-url", "ftp://x"], /--api-url: the live-session API is a URL/],
    [["--api-listen", "8443", "--api-tls-cert", "c.pem"], /--api-tls-cert and --api-tls-key go together/],
    [["--api-tls-cert", "c.pem", "--api-tls-key", "k.pem"], /--api-tls-cert needs --api-listen/],
    [["--pop-lost-after", "2"], /--pop-lost-after must be a number from 3/],
  ];
  for (const [argv, message] of cases) assert.throws(() => parseDtcpsArgs(argv, env), (e: unknown) => e instanceof UsageError && message.test(e.message), argv.join(" "));
});
