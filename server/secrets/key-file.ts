import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/** Every key the broker keeps in a file (secret.key, api.key) is 32 random bytes. */
export const KEY_BYTES = 32;

export class SecretKeyError extends Error {}

/** Reads a key file, creating it (mode 0600, 32 random bytes) when it does not exist. */
export function loadOrCreateKeyFile(path: string): Buffer {
  const existing = readKeyFile(path);
  if (existing !== null) return existing;
  writeKeyFile(path, randomBytes(KEY_BYTES));
  const key = readKeyFile(path);
  if (key === null) throw new SecretKeyError(`${path} vanished right after it was created`);
  return key;
}

/**
 * Writes a secret file that does not exist yet (mode 0600 unless said otherwise), in full under a
 * temporary name, then linked into place: a process starting at the same time (the daemon and the
 * web app) sees no file or the whole of it, never a part, and link() fails rather than replace a
 * file another process put there meanwhile (which is then kept).
 */
export function writeKeyFile(path: string, content: Buffer, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const fd = openSync(temporary, "wx", mode);
  try {
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(temporary, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  } finally {
    unlinkSync(temporary);
  }
}

/** Reads a key file that must exist (a previous key kept for a rotation). */
export function loadKeyFile(path: string): Buffer {
  const key = readKeyFile(path);
  if (key === null) throw new SecretKeyError(`${path} does not exist`);
  return key;
}

/** The key in a file, null when there is no file; tightens loose permissions to 0600. */
function readKeyFile(path: string): Buffer | null {
  let key: Buffer;
  try {
    key = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  if (key.length !== KEY_BYTES) throw new SecretKeyError(`${path} holds ${key.length} bytes; a secret key is ${KEY_BYTES} bytes.`);
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  return key;
}
