// dtcpc.auth / dtcpclient.auth: one `server:user:password` per line.
// Blank lines and lines starting with `#` are skipped. The server and user end at the first and
// second colon and the rest of the line is the password, so a password may contain colons
// (KAME's client cut it at the next colon; files it could read mean the same here).

export interface AuthEntry {
  server: string;
  user: string;
  password: string;
}

export interface AuthFile {
  path: string;
  entries: AuthEntry[];
  /** 1-based numbers of lines that are neither blank, a comment nor `server:user:password`. */
  malformed: number[];
}

export function parseAuthFile(path: string, text: string): AuthFile {
  const entries: AuthEntry[] = [];
  const malformed: number[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    const first = line.indexOf(":");
    const second = first === -1 ? -1 : line.indexOf(":", first + 1);
    const server = line.slice(0, first).trim();
    const user = line.slice(first + 1, second).trim();
    if (second === -1 || server === "" || user === "") {
      malformed.push(i + 1);
      return;
    }
    entries.push({ server, user, password: line.slice(second + 1) });
  });
  return { path, entries, malformed };
}

export type CredentialLookup =
  | { kind: "found"; user: string; password: string; path: string }
  /** No user was given and one file lists several for the server. */
  | { kind: "ambiguous"; path: string; users: string[] }
  | { kind: "missing" };

/**
 * Finds the password for `server` (compared without case, as host names are) and `user` in the
 * files, first file first, first line first. Without a user, the file that first lists the
 * server must list exactly one user for it.
 */
export function findCredentials(files: readonly AuthFile[], server: string, user: string | null): CredentialLookup {
  const host = server.toLowerCase();
  for (const file of files) {
    const matches = file.entries.filter((e) => e.server.toLowerCase() === host && (user === null || e.user === user));
    const first = matches[0];
    if (first === undefined) continue;
    const users = [...new Set(matches.map((e) => e.user))];
    if (users.length > 1) return { kind: "ambiguous", path: file.path, users };
    return { kind: "found", user: first.user, password: first.password, path: file.path };
  }
  return { kind: "missing" };
}
