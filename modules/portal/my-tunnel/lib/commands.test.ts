import assert from "node:assert/strict";
import { test } from "node:test";
import { authFileLine, defaultChoice, options, recommend, settle, type ClientSetup } from "./commands.ts";

const NO_TCP = { tcpPort: null, tlsPort: null, tlsFingerprint: null };
const PIN = Array(32).fill("AB").join(":");
const alice: ClientSetup = { server: "broker.example", port: 20200, user: "alice", types: ["tunnelonly", "host", "network"], transports: ["proto41", "udp"], tunnels: NO_TCP };
const carol: ClientSetup = { ...alice, user: "carol", transports: ["proto41", "udp", "tcp"], tunnels: { tcpPort: 20202, tlsPort: 443, tlsFingerprint: PIN } };
const commands = (setup: ClientSetup, choice: Parameters<typeof recommend>[1]) => recommend(setup, choice).steps.flatMap((s) => (s.command ? [s.command] : []));

test("the auth file line is server:user:password and a newline", () => {
  assert.equal(authFileLine("broker.example", "alice", "pw:x"), "broker.example:alice:pw:x\n");
});

test("the recommendation by default: this project's client, a host tunnel over UDP behind a NAT, with its install steps", () => {
  const choice = defaultChoice(alice)!;
  assert.deepEqual(choice, { client: "linux", type: "host", transport: "udp", network: "nat" });
  assert.deepEqual(commands(alice, choice), [
    "sudo apt install nodejs npm build-essential python3",
    "sudo npm install -g --allow-scripts=dtcpc,esbuild ./dtcpc.tgz",
    "chmod 600 ~/Downloads/dtcpc.auth",
    "sudo dtcpc -l -U -n --auth-file ~/Downloads/dtcpc.auth -t host -u alice broker.example",
  ]);
});

test("each choice gives one command with the flags it needs", () => {
  const last = (choice: Parameters<typeof recommend>[1]) => commands(alice, choice).at(-1);
  assert.equal(last({ client: "linux", type: "network", transport: "proto41", network: "public" }), "sudo dtcpc -l --auth-file ~/Downloads/dtcpc.auth -t network -u alice broker.example");
  assert.equal(last({ client: "kame", type: "host", transport: "proto41", network: "public" }), "dtcpc -l -t host -u alice broker.example");
  assert.equal(last({ client: "dtcpclient", type: "tunnelonly", transport: "udp", network: "nat" }), "dtcpclient -l -U -n -t tunnelonly -u alice broker.example");
  assert.deepEqual(commands(alice, { client: "dtcpclient", type: "host", transport: "proto41", network: "public" }).slice(0, 2), [
    "pkg install dtcpclient",
    "install -m 600 dtcpclient.auth /usr/local/etc/dtcpclient.auth",
  ]);
  assert.match(recommend(alice, { client: "kame", type: "host", transport: "proto41", network: "nat" }).notes.join(" "), /forwards protocol 41/);
  assert.equal(last({ client: "linux", type: "host", transport: "udp", network: "public" }), "sudo dtcpc -l -U --auth-file ~/Downloads/dtcpc.auth -t host -u alice broker.example");
  assert.equal(commands({ ...alice, port: 2020 }, defaultChoice(alice)!).at(-1), "sudo dtcpc -l -U -n --auth-file ~/Downloads/dtcpc.auth -t host -u alice -p 2020 broker.example");
});

test("where the POP offers TCP and the user may use it, the Linux client is told --transport auto, pinning the TLS certificate", () => {
  const choice = defaultChoice(carol)!;
  assert.deepEqual(choice, { client: "linux", type: "host", transport: "auto", network: "nat" });
  assert.equal(commands(carol, choice).at(-1), `sudo dtcpc -l --transport auto --pin ${PIN} --auth-file ~/Downloads/dtcpc.auth -t host -u carol broker.example`);
  assert.match(recommend(carol, choice).notes.join(" "), /falls back to TLS/);
  assert.match(recommend(carol, choice).notes.join(" "), /logs in only inside TLS \(port 443\)/);
  const last = (setup: ClientSetup, transport: "proto41" | "udp" | "tcp" | "tls" | "auto") => commands(setup, { ...choice, transport }).at(-1);
  // With a pin every login goes inside TLS, whatever carries the packets.
  assert.equal(last(carol, "tcp"), `sudo dtcpc -l --tcp --pin ${PIN} --auth-file ~/Downloads/dtcpc.auth -t host -u carol broker.example`, "no -n: TCP needs none");
  assert.equal(last(carol, "udp"), `sudo dtcpc -l -U --pin ${PIN} -n --auth-file ~/Downloads/dtcpc.auth -t host -u carol broker.example`);
  assert.equal(last(carol, "proto41"), `sudo dtcpc -l --pin ${PIN} -n --auth-file ~/Downloads/dtcpc.auth -t host -u carol broker.example`);
  const pinnedElsewhere = { ...carol, tunnels: { tcpPort: 20202, tlsPort: 20443, tlsFingerprint: PIN } };
  assert.equal(last(pinnedElsewhere, "udp"), `sudo dtcpc -l -U --pin ${PIN} --tls-port 20443 -n --auth-file ~/Downloads/dtcpc.auth -t host -u carol broker.example`);
  assert.equal(commands(carol, { client: "kame", type: "host", transport: "proto41", network: "public" }).at(-1), "dtcpc -l -t host -u carol broker.example", "KAME's dtcpc knows no TLS");
  assert.equal(last(carol, "tls"), `sudo dtcpc -l --tls --pin ${PIN} --auth-file ~/Downloads/dtcpc.auth -t host -u carol broker.example`);
  const elsewhere = { ...carol, tunnels: { tcpPort: 20202, tlsPort: 20443, tlsFingerprint: null } };
  assert.equal(last(elsewhere, "tls"), "sudo dtcpc -l --tls --auth-file ~/Downloads/dtcpc.auth -t host -u carol -p 20443 broker.example", "a CA-signed certificate needs no pin");
  assert.equal(last(elsewhere, "auto"), "sudo dtcpc -l --transport auto --tls-port 20443 --auth-file ~/Downloads/dtcpc.auth -t host -u carol broker.example");
  assert.deepEqual(options({ ...carol, tunnels: NO_TCP }).transports("linux"), ["udp", "proto41"], "a POP without TCP tunnels offers neither TCP nor auto");
  assert.deepEqual(options({ ...carol, transports: ["tcp"] }).transports("linux"), ["tcp", "tls"], "auto needs UDP to start from");
  assert.match(recommend(alice, { client: "dtcpclient", type: "host", transport: "udp", network: "nat" }).notes.join(" "), /-B <that port> instead of -n/);
});

test("only what the user may use is offered, and a choice is settled onto it", () => {
  const bob: ClientSetup = { ...alice, user: "bob", types: ["network"], transports: ["udp"] };
  const { clients, types, transports } = options(bob);
  assert.deepEqual(clients, ["linux", "dtcpclient"], "KAME's dtcpc carries protocol 41 only");
  assert.deepEqual(types, ["network"]);
  assert.deepEqual(transports("linux"), ["udp"]);
  assert.deepEqual(defaultChoice(bob), { client: "linux", type: "network", transport: "udp", network: "nat" });
  assert.deepEqual(settle(bob, { client: "kame", type: "host", transport: "proto41", network: "public" }), { client: "linux", type: "network", transport: "udp", network: "public" });
  assert.equal(defaultChoice({ ...alice, types: [] }), null, "nothing allowed, nothing to recommend");
});
