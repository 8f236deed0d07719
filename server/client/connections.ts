// The client's TCP connections to the server: the control connection (plain or inside TLS, the
// server's certificate checked against a pin, a CA file or the system's CAs) and, for IPv6 over
// TCP, the data connection that presents the login's token.
import { readFileSync } from "node:fs";
import { connect, isIP, type Socket } from "node:net";
import { checkServerIdentity, connect as connectTls, type TLSSocket } from "node:tls";
import { ATTACHED } from "../protocol/replies.ts";

/** How a TLS server's certificate is checked. */
export interface TlsCheck {
  /** SHA-256 fingerprint (AB:CD:…) the certificate must have. */
  pin: string | null;
  /** PEM file of the CAs that must have signed it (the system's without pin or CA). */
  caFile: string | null;
}

/** Why a TLS server was not believed: a message for the log, and never worth retrying. */
export class CertificateError extends Error {}

/** Where to connect: `host` (an address, or a name to resolve), and the `name` the server's certificate must carry. */
export interface Target {
  host: string;
  name: string;
}

/** A connected socket: plain TCP, or TLS once the server's certificate passed `tls`. */
export function openConnection(target: Target, port: number, tls: TlsCheck | null, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const tcp = connect({ host: target.host, port, family: 4 });
    const socket: Socket =
      tls === null
        ? tcp
        : connectTls({
            socket: tcp,
            servername: isIP(target.name) === 0 ? target.name : undefined,
            // The name the user gave: an IP address is checked against the certificate's IP addresses.
            // (Over a socket of its own, Node would check "localhost".)
            checkServerIdentity: (_host, cert) => checkServerIdentity(target.name, cert),
            // With a pin the fingerprint decides, not a CA: a broker's own certificate is self-signed.
            rejectUnauthorized: tls.pin === null,
            ...(tls.caFile !== null ? { ca: readFileSync(tls.caFile) } : {}),
          });
    if (socket !== tcp) tcp.once("error", (err) => socket.destroy(err));
    const timer = setTimeout(() => socket.destroy(new Error(`no connection within ${timeoutMs / 1000} s`)), timeoutMs);
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(tls !== null && /certificate|self.signed|unable to verify/i.test(err.message) ? new CertificateError(`the server's certificate was refused: ${err.message}`) : err);
    });
    socket.once(tls === null ? "connect" : "secureConnect", () => {
      clearTimeout(timer);
      if (tls?.pin) {
        const seen = (socket as TLSSocket).getPeerCertificate().fingerprint256;
        if (seen !== tls.pin) {
          socket.destroy();
          reject(new CertificateError(`the server's certificate (sha256 ${seen}) is not the pinned one (${tls.pin})`));
          return;
        }
      }
      resolve(socket);
    });
  });
}

/**
 * Opens a TCP session's data connection: reads the greeting, presents the token and returns the
 * socket once the server answers `+OK attached`; what followed that line is put back for the relay.
 */
export async function openDataConnection(target: Target, port: number, tls: TlsCheck | null, token: string, timeoutMs: number): Promise<Socket> {
  const socket = await openConnection(target, port, tls, timeoutMs);
  try {
    let buffered = Buffer.alloc(0);
    const nextLine = () =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
        const onData = (chunk: Buffer) => {
          buffered = Buffer.concat([buffered, chunk]);
          const lf = buffered.indexOf(0x0a);
          if (lf >= 0) done(null, lf);
          else if (buffered.length > 1024) done(new Error("the server sent a line of more than 1024 bytes"));
        };
        const onClose = () => done(new Error("the server closed the tunnel connection"));
        const done = (err: Error | null, lf = -1) => {
          clearTimeout(timer);
          socket.off("data", onData);
          socket.off("close", onClose);
          socket.pause();
          if (err) return reject(err);
          const line = buffered.subarray(0, lf).toString("latin1").replace(/\r$/, "");
          buffered = buffered.subarray(lf + 1);
          resolve(line);
        };
        socket.on("data", onData);
        socket.once("close", onClose);
        socket.resume();
        if (buffered.indexOf(0x0a) >= 0) onData(Buffer.alloc(0));
      });
    const greeting = await nextLine();
    if (!greeting.startsWith("+OK")) throw new Error(`unexpected greeting on the tunnel connection: ${JSON.stringify(greeting.slice(0, 200))}`);
    socket.write(`attach ${token}\r\n`);
    const answer = await nextLine();
    if (answer !== ATTACHED) throw new Error(`the server refused the tunnel connection: ${answer.slice(0, 200)}`);
    if (buffered.length > 0) socket.unshift(buffered);
    return socket;
  } catch (err) {
    socket.destroy();
    throw err;
  }
}
