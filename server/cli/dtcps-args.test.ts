import assert from "node:assert/strict";
import { test } from "node:test";
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
    [[], /--no-dataplane/],
  ];
  for (const [argv, message] of cases) assert.throws(() => parseDtcpsArgs(argv, env), (e: unknown) => e instanceof UsageError && message.test(e.message), argv.join(" "));
});
