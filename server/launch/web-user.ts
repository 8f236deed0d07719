import { spawnSync } from "node:child_process";
import { chownSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
}

function lookup(name: string): SystemUser | null {
  const id = (flag: string) => spawnSync("id", [flag, name], { encoding: "utf8" });
  const uid = id("-u");
  const gid = id("-g");
  if (uid.status !== 0 || gid.status !== 0) return null;
  return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** The unprivileged account the web app runs as, created as a system user when missing. */
export function ensureSystemUser(name: string): SystemUser {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) throw new Error(`BROKER_WEB_USER must be a plain user name; got "${name}"`);
  const existing = lookup(name);
  if (existing) return existing;
  const created = spawnSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], { encoding: "utf8" });
  if (created.status !== 0) throw new Error(`could not create the system user ${name}: ${created.stderr.trim() || created.error?.message}`);
  const user = lookup(name);
  if (!user) throw new Error(`the system user ${name} was created but cannot be looked up`);
  return user;
}

/** chown -R without following symbolic links. */
export function chownTree(path: string, user: SystemUser): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return;
  if (stat.uid !== user.uid || stat.gid !== user.gid) chownSync(path, user.uid, user.gid);
  if (stat.isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry), user);
}

/** Null when `user` can read every path (and list every directory on the way); else why not. */
export function unreadableFor(user: SystemUser, paths: string[]): string | null {
  const script = `const fs = require("node:fs");
for (const p of JSON.parse(process.argv[1])) {
  try { fs.accessSync(p, fs.constants.R_OK); } catch (e) { process.stdout.write(p + ": " + e.code); process.exit(1); }
}`;
  const result = spawnSync(process.execPath, ["-e", script, JSON.stringify(paths)], { uid: user.uid, gid: user.gid, encoding: "utf8" });
  if (result.status === 0) return null;
  return result.stdout.trim() || result.stderr.trim() || `exit ${result.status}`;
}
