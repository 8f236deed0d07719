// A self-signed certificate for the TLS tunnel listener when the operator gives none: an ECDSA
// P-256 key and an X.509 v3 certificate encoded here (Node verifies certificates but makes none,
// and nothing may be downloaded or run from outside). Clients pin it by its SHA-256 fingerprint,
// which the daemon logs and records for the portal.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { writeKeyFile } from "./key-file.ts";

// ---- DER, the little of it a certificate needs ----

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};
const sequence = (...items: Buffer[]) => tlv(0x30, ...items);
const set = (...items: Buffer[]) => tlv(0x31, ...items);
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text, "utf8"));
const octets = (bytes: Buffer) => tlv(0x04, bytes);
const bits = (bytes: Buffer) => tlv(0x03, Buffer.from([0]), bytes);
const explicit = (n: number, content: Buffer) => tlv(0xa0 | n, content);

function integer(bytes: Buffer): Buffer {
  // Positive: a leading 0 where the top bit is set.
  return tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      chunk.unshift((v % 128) | (chunk.length ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime until 2049, GeneralizedTime from 2050 on (RFC 5280 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

const ECDSA_WITH_SHA256 = sequence(oid("1.2.840.10045.4.3.2"));

function ipv4Bytes(address: string): Buffer | null {
  const parts = address.split(".").map(Number);
  return parts.length === 4 && parts.every((p) => Number.isInteger(p) && p >= 0 && p <= 255) ? Buffer.from(parts) : null;
}

export interface SelfSigned {
  /** PEM. */
  cert: string;
  key: string;
  /** SHA-256 of the DER certificate, hex pairs joined by ':' (as Node's fingerprint256). */
  fingerprint: string;
}

/**
 * A self-signed certificate for `name` (its CN, and a subject alternative name: an IPv4 address
 * or a DNS name), valid from an hour ago for `days`.
 */
export function selfSignedCertificate(name: string, days = 3650, now = new Date()): SelfSigned {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const dn = sequence(set(sequence(oid("2.5.4.3"), utf8(name))));
  const ip = ipv4Bytes(name);
  const altName = ip ? tlv(0x87, ip) : tlv(0x82, Buffer.from(name, "ascii"));
  const extensions = explicit(3, sequence(sequence(oid("2.5.29.17"), octets(sequence(altName)))));
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    ECDSA_WITH_SHA256,
    dn,
    sequence(time(new Date(now.getTime() - 3600_000)), time(new Date(now.getTime() + days * 86_400_000))),
    dn,
    publicKey.export({ type: "spki", format: "der" }),
    extensions,
  );
  const der = sequence(tbs, ECDSA_WITH_SHA256, bits(sign("sha256", tbs, privateKey)));
  const cert = `-----BEGIN CERTIFICATE-----\n${der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END CERTIFICATE-----\n`;
  return { cert, key: privateKey.export({ type: "pkcs8", format: "pem" }) as string, fingerprint: fingerprintOf(der) };
}

/** SHA-256 of a DER certificate, as AB:CD:… */
export function fingerprintOf(der: Buffer): string {
  return createHash("sha256").update(der).digest("hex").toUpperCase().replace(/(..)(?!$)/g, "$1:");
}

/**
 * The TLS listener's certificate and key: the operator's files, or (without them) the daemon's
 * own self-signed pair in the data directory, made on first use (key mode 0600).
 */
export function loadOrCreateTlsIdentity(
  given: { certFile: string; keyFile: string } | null,
  own: { certFile: string; keyFile: string },
  name: string,
): { cert: Buffer; key: Buffer; fingerprint: string; selfSigned: boolean } {
  const files = given ?? own;
  if (!given && !(existsSync(own.certFile) && existsSync(own.keyFile))) {
    const made = selfSignedCertificate(name);
    writeKeyFile(own.keyFile, Buffer.from(made.key));
    writeKeyFile(own.certFile, Buffer.from(made.cert), 0o644);
  }
  const cert = readFileSync(files.certFile);
  const key = readFileSync(files.keyFile);
  createPrivateKey(key); // a key file that is not a key stops the start here, named
  return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256, selfSigned: !given };
}
