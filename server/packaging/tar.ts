import { gzipSync } from "node:zlib";

/** One regular file of an archive. */
export interface TarEntry {
  /** Relative, "/"-separated, at most 100 bytes (no long-name extension is written). */
  path: string;
  content: Buffer;
  /** Permission bits, e.g. 0o644. */
  mode: number;
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function header(entry: TarEntry, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const name = Buffer.from(entry.path, "utf8");
  if (name.length > 100 || entry.path.startsWith("/") || entry.path.split("/").includes("..")) {
    throw new Error(`tar: a path must be relative and at most 100 bytes: ${entry.path}`);
  }
  name.copy(h, 0);
  h.write(octal(entry.mode, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii"); // uid
  h.write(octal(0, 8), 116, "ascii"); // gid
  h.write(octal(entry.content.length, 12), 124, "ascii");
  h.write(octal(mtime, 12), 136, "ascii");
  h.write("        ", 148, "ascii"); // the checksum field counts as spaces while summing
  h.write("0", 156, "ascii"); // a regular file
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(octal(sum, 7) + " ", 148, "ascii");
  return h;
}

/** A gzip-compressed ustar archive of regular files, as `npm pack` makes and `npm install` reads. */
export function tarGz(entries: readonly TarEntry[], mtime = new Date(0)): Buffer {
  const seconds = Math.floor(mtime.getTime() / 1000);
  const parts: Buffer[] = [];
  for (const entry of entries) {
    parts.push(header(entry, seconds), entry.content);
    const pad = (BLOCK - (entry.content.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return gzipSync(Buffer.concat(parts));
}
