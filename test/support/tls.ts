// Throw-away TLS material for tests: a self-signed certificate for 127.0.0.1 and localhost, made
// with the openssl command line (Node can check certificates but not make them).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCertificate {
  cert: Buffer;
  key: Buffer;
  certFile: string;
  keyFile: string;
  cleanup(): void;
}

export function selfSignedCertificate(commonName = "localhost", subjectAltName = `DNS:${commonName},IP:127.0.0.1`): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), "dtcp-tls-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", `/CN=${commonName}`,
      "-addext", `subjectAltName=${subjectAltName}`, "-keyout", keyFile, "-out", certFile],
    { stdio: "pipe" },
  );
  return { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile, keyFile, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
