// The SQLite database holds password hashes, sealed DTCP passwords and the audit log: its files and
// the directory they are in are readable by their owner only (the daemon is root and reads them all
// the same; the launcher hands them to the web app's user).
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";

export class DataDirectoryError extends Error {}

/** What a private file's companions (SQLite's -wal and -shm) are called. */
const COMPANIONS = ["", "-wal", "-shm", "-journal"];

/**
 * Makes `file`'s directory (created 0700 if missing) and the database files in it private. A
 * directory that others can enter is tightened to 0700 when this process owns it, and refused when
 * it does not (it cannot be tightened, and the files would be exposed). Returns what it tightened,
 * for the caller to say.
 */
export function makeDatabasePrivate(file: string): string[] {
  const dir = dirname(file);
  const tightened: string[] = [];
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const dirStat = statSync(dir);
  if ((dirStat.mode & 0o077) !== 0) {
    const uid = process.getuid?.();
    if (uid !== undefined && uid !== 0 && dirStat.uid !== uid) {
      throw new DataDirectoryError(
        `the data directory ${dir} is readable by others (mode ${octal(dirStat.mode)}) and not ours to tighten: run chmod 700 ${dir} as its owner, or choose another BROKER_DATA_DIR`,
      );
    }
    chmodSync(dir, 0o700);
    tightened.push(`${dir} (was ${octal(dirStat.mode)}, now 0700)`);
  }
  // Created here, not by SQLite, so that it is 0600 from its first byte; SQLite creates -wal and
  // -shm with the database file's own mode.
  closeSync(openSync(file, "a", 0o600));
  for (const suffix of COMPANIONS) {
    const path = file + suffix;
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch {
      continue;
    }
    if ((mode & 0o077) !== 0) {
      chmodSync(path, 0o600);
      tightened.push(`${path} (was ${octal(mode)}, now 0600)`);
    }
  }
  return tightened;
}

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;
