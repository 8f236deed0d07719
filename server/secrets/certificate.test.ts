import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:tls";
import { after, test } from "node:test";
import { CertificateError, openConnection } from "../client/connections.ts";
import { selfSignedCertificate as testCertificate } from "../../test/support/tls.ts";
import { loadOrCreateTlsIdentity, selfSignedCertificate } from "./certificate.ts";

const dir = mkdtempSync(join(tmpdir(), "cert-test-"));
const LOCAL = { host: "127.0.0.1", name: "127.0.0.1" };
after(() => rmSync(dir, { recursive: true, force: true }));

test("a self-signed certificate parses, verifies with its own key, names its address and is pinned by its fingerprint over TLS", async () => {
  const now = new Date(Date.UTC(2026, 11, 2, 12));
  const made = selfSignedCertificate("192.0.2.1", 3650, now);
  const x509 = new X509Certificate(made.cert);
  assert.equal(x509.subject, "CN=192.0.2.1");
  assert.equal(x509.issuer, "CN=192.0.2.1");
  assert.ok(x509.verify(x509.publicKey), "signed by its own key");
  assert.equal(x509.subjectAltName, "IP Address:192.0.2.1");
  assert.equal(new Date(x509.validFrom).getTime(), now.getTime() - 3600_000);
  assert.equal(new Date(x509.validTo).getUTCFullYear(), 2036);
  assert.equal(x509.fingerprint256, made.fingerprint);
  assert.equal(new X509Certificate(selfSignedCertificate("tunnel.example.net").cert).subjectAltName, "DNS:tunnel.example.net");
  assert.ok(new X509Certificate(selfSignedCertificate("x", 36500).cert).validTo.includes("21"), "a GeneralizedTime past 2049");

  // The client's own check (dtcpc --pin, --ca), against what the daemon logs for its certificate.
  const server = createServer({ cert: made.cert, key: made.key }, (socket) => socket.end("hello"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const pinned = await openConnection(LOCAL, port, { pin: made.fingerprint, caFile: null }, 5_000);
    pinned.destroy();
    const other = selfSignedCertificate("192.0.2.1").fingerprint;
    await assert.rejects(openConnection(LOCAL, port, { pin: other, caFile: null }, 5_000), (err: unknown) => {
      assert.ok(err instanceof CertificateError);
      assert.match(err.message, new RegExp(`^the server's certificate \\(sha256 ${made.fingerprint}\\) is not the pinned one \\(${other}\\)$`));
      return true;
    });
    // Without a pin, a self-signed certificate must be signed by a CA the client was given.
    await assert.rejects(openConnection(LOCAL, port, { pin: null, caFile: null }, 5_000), CertificateError);
    const caFile = join(dir, "other-ca.pem");
    writeFileSync(caFile, selfSignedCertificate("192.0.2.1").cert);
    await assert.rejects(openConnection(LOCAL, port, { pin: null, caFile }, 5_000), CertificateError);
  } finally {
    server.close();
  }
});

test("--ca checks a server given by IP address against the certificate's IP addresses, not the name localhost", async () => {
  const serve = async (san: string) => {
    const made = testCertificate("dtcp test CA", san);
    const server = createServer({ cert: made.cert, key: made.key }, (socket) => socket.end("hello"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { made, server, port: (server.address() as { port: number }).port };
  };
  const byAddress = await serve("IP:127.0.0.1");
  const byName = await serve("DNS:localhost");
  try {
    const good = await openConnection(LOCAL, byAddress.port, { pin: null, caFile: byAddress.made.certFile }, 5_000);
    good.destroy();
    await assert.rejects(openConnection(LOCAL, byName.port, { pin: null, caFile: byName.made.certFile }, 5_000), (err: unknown) => {
      assert.ok(err instanceof CertificateError, String(err));
      assert.match(err.message, /IP: 127\.0\.0\.1 is not in the cert's list/);
      return true;
    });
    const named = await openConnection({ host: "127.0.0.1", name: "localhost" }, byName.port, { pin: null, caFile: byName.made.certFile }, 5_000);
    named.destroy();
  } finally {
    for (const s of [byAddress, byName]) {
      s.server.close();
      s.made.cleanup();
    }
  }
});

test("the daemon's own pair is made once (key 0600) and kept; operator files are used as they are", () => {
  const own = { certFile: join(dir, "tls.crt"), keyFile: join(dir, "tls.key") };
  const first = loadOrCreateTlsIdentity(null, own, "192.0.2.1");
  assert.equal(statSync(own.keyFile).mode & 0o777, 0o600);
  assert.equal(first.selfSigned, true);
  assert.equal(loadOrCreateTlsIdentity(null, own, "192.0.2.1").fingerprint, first.fingerprint, "made once, then read");
  const operator = selfSignedCertificate("tunnel.example.net");
  const given = { certFile: join(dir, "op.crt"), keyFile: join(dir, "op.key") };
  writeFileSync(given.certFile, operator.cert);
  writeFileSync(given.keyFile, operator.key);
  const used = loadOrCreateTlsIdentity(given, own, "ignored");
  assert.deepEqual([used.fingerprint, used.selfSigned], [operator.fingerprint, false]);
  writeFileSync(given.keyFile, "not a key");
  assert.throws(() => loadOrCreateTlsIdentity(given, own, "x"));
});
