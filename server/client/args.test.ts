import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { UsageError } from "../cli/args.ts";
import { parseDtcpcArgs } from "./args.ts";

test("defaults follow dtcpc(8): tunnelonly, port 20200, MTU 1280, dtcp0, protocol 41, ::/0", () => {
  const o = parseDtcpcArgs(["192.0.2.1"]);
  assert.deepEqual(o, {
    server: "192.0.2.1",
    port: 20200,
    type: "tunnelonly",
    user: null,
    transport: "proto41",
    udp: null,
    tls: { port: 443, control: false, pin: null, caFile: null },
    tunnelServer: { kind: "reached" },
    delegations: [],
    advertise: true,
    routing: "static",
    background: false,
    logFile: "/var/log/dtcpc.log",
    keepInterface: false,
    acceptNat: false,
    mtu: 1280,
    offload: true,
    loop: false,
    pidFile: null,
    script: null,
    address: null,
    routes: null,
    ifname: "dtcp0",
    debug: false,
    authFile: null,
  });
});

test("--tcp, --tls and --transport choose how packets travel; --pin and --ca check a TLS server", () => {
  assert.equal(parseDtcpcArgs(["--tcp", "b"]).transport, "tcp");
  const tls = parseDtcpcArgs(["--tls", "--pin", `sha256:${"ab".repeat(32)}`, "b"]);
  assert.deepEqual([tls.transport, tls.tls], ["tls", { port: 443, control: true, pin: Array(32).fill("AB").join(":"), caFile: null }]);
  assert.equal(parseDtcpcArgs(["--tls", "-p", "8443", "b"]).tls.port, 8443, "-p names the TLS port with --tls");
  const auto = parseDtcpcArgs(["--transport", "auto", "--ca", "/etc/ca.pem", "--tls-port", "4443", "b"]);
  assert.deepEqual([auto.transport, auto.tls, auto.udp?.natTraversal, auto.udp?.bindPort], ["auto", { port: 4443, control: true, pin: null, caFile: "/etc/ca.pem" }, true, 0]);
  // A certificate to check puts every control connection inside TLS, whatever carries the packets.
  for (const argv of [["-U", "-n"], ["--tcp"], [], ["--transport", "auto"]]) {
    assert.equal(parseDtcpcArgs([...argv, "--pin", "ab".repeat(32), "b"]).tls.control, true, argv.join(" "));
    assert.equal(parseDtcpcArgs([...argv, "b"]).tls.control, false, argv.join(" "));
  }
  const wrong: [string[], RegExp][] = [
    [["-U", "--tcp", "b"], /-U and --tcp each choose the transport/],
    [["--transport", "carrier-pigeon", "b"], /--transport must be auto, proto41, udp, tcp, tls/],
    [["--tls", "--pin", "12:34", "b"], /--pin must be a SHA-256 fingerprint/],
    [["--tls", "--pin", "ab".repeat(32), "--ca", "x", "b"], /--pin and --ca each say how/],
    [["--tcp", "--tls-port", "443", "b"], /--tls-port applies to --tls, --pin, --ca and --transport auto/],
    [["--transport", "auto", "-B", "4028", "b"], /-B needs -U/],
  ];
  for (const [argv, message] of wrong) assert.throws(() => parseDtcpcArgs(argv), message, argv.join(" "));
});

test("--tunnel-server: the control connection's address by default, the reply's, or one given, never a special one", () => {
  assert.deepEqual(parseDtcpcArgs(["b"]).tunnelServer, { kind: "reached" });
  assert.deepEqual(parseDtcpcArgs(["--tunnel-server", "Reply", "b"]).tunnelServer, { kind: "reply" });
  assert.deepEqual(parseDtcpcArgs(["--tunnel-server", "198.51.100.7", "b"]).tunnelServer, { kind: "address", address: "198.51.100.7" });
  for (const [word, message] of [
    ["somewhere", /must be "reply" or an IPv4 address/],
    ["224.0.0.1", /multicast/],
    ["255.255.255.255", /broadcast/],
    ["127.0.0.1", /loopback/],
    ["0.0.0.0", /unspecified/],
  ] as const) {
    assert.throws(() => parseDtcpcArgs(["--tunnel-server", word, "b"]), message, word);
  }
});

test("dtcpc(8)'s -P, -a, -r, -D, -o and -c", () => {
  const o = parseDtcpcArgs(["-t", "network", "-P", "lan0/1,wifi0/2/::1/64", "-a", "-r", "solicit", "-D", "-o", "-c", "--log-file", "/var/log/t.log", "b"]);
  assert.deepEqual(
    [o.delegations.map((d) => [d.ifname, d.slaId]), o.advertise, o.routing, o.background, o.keepInterface, o.logFile],
    [[["lan0", 1n], ["wifi0", 2n]], false, "solicit", true, true, "/var/log/t.log"],
  );
});

test("short options combine as in dtcpclient(8)", () => {
  const o = parseDtcpcArgs(["-dlU", "-t", "host", "-u", "alice", "-p", "2020", "-m", "1400", "-i", "tun6", "-f", "/run/d.pid", "-s", "/etc/up", "broker.example"]);
  assert.deepEqual(
    [o.debug, o.loop, o.type, o.user, o.port, o.mtu, o.ifname, o.pidFile, o.script, o.server],
    [true, true, "host", "alice", 2020, 1400, "tun6", "/run/d.pid", "/etc/up", "broker.example"],
  );
  assert.deepEqual(o.udp, { bindPort: 4028, natPort: null, natTraversal: false, keepaliveMs: 25_000 });
});

test("UDP modes: fixed port 4028, a NAT port forward (-B), NAT traversal on an ephemeral port (-n)", () => {
  assert.deepEqual(parseDtcpcArgs(["-U", "-b", "5000", "s"]).udp, { bindPort: 5000, natPort: null, natTraversal: false, keepaliveMs: 25_000 });
  assert.deepEqual(parseDtcpcArgs(["-Un", "-B", "6000", "s"]).udp, { bindPort: 4028, natPort: 6000, natTraversal: false, keepaliveMs: 25_000 });
  assert.deepEqual(parseDtcpcArgs(["-Un", "s"]).udp, { bindPort: 0, natPort: null, natTraversal: true, keepaliveMs: 25_000 });
  assert.deepEqual(parseDtcpcArgs(["-Un", "-b", "7000", "--keepalive", "2.5", "s"]).udp, { bindPort: 7000, natPort: null, natTraversal: true, keepaliveMs: 2500 });
  assert.equal(parseDtcpcArgs(["-n", "s"]).acceptNat, true);
});

test("-t tunnelroute is network; -A and -R are canonicalised", () => {
  const o = parseDtcpcArgs(["-t", "TunnelRoute", "-A", "2001:DB8:0:0::1", "-R", "2001:db8:1::/48, 2001:db8::99,::/0", "s"]);
  assert.equal(o.type, "network");
  assert.equal(o.address, "2001:db8::1");
  assert.deepEqual(o.routes, ["2001:db8:1::/48", "2001:db8::99/128", "::/0"]);
  assert.equal(parseDtcpcArgs(["-A", "2001:db8::5", "s"]).address, "2001:db8::5");
  assert.equal(parseDtcpcArgs(["--auth-file", "/tmp/a", "s"]).authFile, "/tmp/a");
});

test("mistakes are usage errors naming the option", () => {
  const cases: [string[], RegExp][] = [
    [[], /missing the server/],
    [["a", "b"], /one server only/],
    [["-t", "ipip", "s"], /-t must be tunnelonly, host or network; got "ipip"/],
    [["-p", "http", "s"], /-p must be a number from 1 to 65535/],
    [["-p", "20200.5", "s"], /-p must be a whole number/],
    [["-m", "1000", "s"], /-m must be a number from 1280/],
    [["-b", "5000", "s"], /-b needs -U/],
    [["-B", "5000", "s"], /-B needs -U/],
    [["--keepalive", "5", "s"], /--keepalive needs -U/],
    [["-U", "--keepalive", "5", "s"], /--keepalive applies to NAT traversal only/],
    [["-Un", "-B", "5", "--keepalive", "5", "s"], /--keepalive applies to NAT traversal only/],
    [["-Un", "--keepalive", "0", "s"], /--keepalive must be a number from 1/],
    [["-U", "-b", "0", "s"], /-b must be a number from 1/],
    [["-U", "-B", "70000", "s"], /-B must be a number from 1 to 65535/],
    [["-t", "host", "-A", "2001:db8::1", "s"], /-A applies to tunnelonly and network/],
    [["-A", "192.0.2.1", "s"], /-A: "192.0.2.1" is not an IPv6 address/],
    [["-R", "2001:db8::1/48", "s"], /-R: 2001:db8::1\/48 has host bits set; did you mean 2001:db8::\/48\?/],
    [["-R", "nowhere", "s"], /-R: "nowhere" is not an IPv6 address/],
    [["-i", "a-very-long-interface-name", "s"], /-i must be an interface name/],
    [["-u", "al ice", "s"], /-u must be one word/],
    [["-X", "s"], /Unknown option '-X'/],
    [["-P", "lan0/1", "s"], /-P numbers LANs from a network tunnel's prefix: it needs -t network/],
    [["-t", "network", "-P", "lan0/1/2/3/4", "s"], /-P wants interface\/SLA-id/],
    [["-a", "s"], /-a turns off the router advertisements of -P/],
    [["-r", "dhcp", "s"], /-r must be static or solicit/],
    [["--log-file", "/tmp/x", "s"], /--log-file applies to -D/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseDtcpcArgs(argv), (e: unknown) => e instanceof UsageError && message.test(e.message) && !e.message.includes("\n"), argv.join(" "));
  }
});

test("the binary prints one line and exits 2 on a usage error", () => {
  const bin = fileURLToPath(new URL("../../bin/dtcpc.js", import.meta.url));
  const r = spawnSync(process.execPath, [bin, "-t", "ipip", "192.0.2.1"], { encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr, 'dtcpc: -t must be tunnelonly, host or network; got "ipip"\n');
});
