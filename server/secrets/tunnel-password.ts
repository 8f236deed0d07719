import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { KEY_BYTES, SecretKeyError } from "./key-file.ts";

export { loadKeyFile, loadOrCreateKeyFile as loadOrCreateSecretKey, SecretKeyError } from "./key-file.ts";

// DTCP passwords must stay recoverable (the MD5 challenge needs the plain text),
// so they are sealed with AES-256-GCM under a key kept in a 0600 file.
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * What a TOTP secret is sealed with as associated data: its own, so that a sealed DTCP password
 * cannot stand in for a TOTP secret or the other way round.
 */
export const totpSealName = (userName: string) => `totp:${userName}`;

/** Seals and opens DTCP passwords (and TOTP secrets), each bound to its user's name. */
export interface SecretBox {
  seal(userName: string, password: string): Uint8Array<ArrayBuffer>;
  open(userName: string, sealed: Uint8Array): string;
}

/** A box whose keys are read (the current one created if need be) when first used: commands that touch no secret need no key file. */
export function lazySecretBox(loadKey: () => Buffer, loadPrevious: () => Buffer[] = () => []): SecretBox {
  let box: TunnelPasswordBox | undefined;
  const get = () => (box ??= new TunnelPasswordBox(loadKey(), loadPrevious()));
  return { seal: (userName, password) => get().seal(userName, password), open: (userName, sealed) => get().open(userName, sealed) };
}

/**
 * Seals under the current key; opens with it or, while a rotation is under way, with a previous
 * one (so that POPs can take the new key one after another, and `dtcpctl secret-key reseal` then
 * moves every stored secret to it).
 */
export class TunnelPasswordBox implements SecretBox {
  readonly #key: Buffer;
  readonly #previous: readonly Buffer[];

  constructor(key: Buffer, previous: readonly Buffer[] = []) {
    for (const k of [key, ...previous]) if (k.length !== KEY_BYTES) throw new SecretKeyError(`a secret key is ${KEY_BYTES} bytes`);
    this.#key = key;
    this.#previous = previous;
  }

  /** version ‖ iv ‖ tag ‖ ciphertext; the user name is bound as associated data so sealed values cannot be swapped between users. */
  seal(userName: string, password: string): Uint8Array<ArrayBuffer> {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    cipher.setAAD(Buffer.from(userName, "utf8"));
    const body = Buffer.concat([cipher.update(password, "utf8"), cipher.final()]);
    return new Uint8Array(Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]));
  }

  open(userName: string, sealed: Uint8Array): string {
    const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (buf.length < 1 + IV_BYTES + TAG_BYTES || buf[0] !== VERSION) {
      throw new SecretKeyError(`the stored DTCP password of ${userName} is not in a known format`);
    }
    const iv = buf.subarray(1, 1 + IV_BYTES);
    const tag = buf.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
    for (const key of [this.#key, ...this.#previous]) {
      const decipher = createDecipheriv("aes-256-gcm", key, iv);
      decipher.setAAD(Buffer.from(userName, "utf8"));
      decipher.setAuthTag(tag);
      try {
        return Buffer.concat([decipher.update(buf.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
      } catch {
        // Not sealed under this key: the next one, if any.
      }
    }
    throw new SecretKeyError(`the stored DTCP password of ${userName} cannot be decrypted with this secret key`);
  }
}

/** A strong DTCP password: 20 characters from an alphabet safe in dtcpc.auth (no ':' and no white space). */
export function generateTunnelPassword(random: (n: number) => Buffer = randomBytes): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  let out = "";
  while (out.length < 20) {
    for (const b of random(32)) {
      // Rejection sampling keeps the distribution uniform.
      if (b < 256 - (256 % alphabet.length) && out.length < 20) out += alphabet[b % alphabet.length];
    }
  }
  return out;
}
