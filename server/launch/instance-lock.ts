// One broker per data directory, one daemon per POP and database: a name in Linux's abstract
// socket namespace, bound by the holder. The kernel frees it when the last process holding the
// socket exits, however it exits (kill -9 included), so no stale lock file is ever left to judge.
// The launcher hands its socket to its children: a new broker cannot start while an orphan of the
// old one still runs.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { createServer, type Server } from "node:net";

export class InstanceLockedError extends Error {
  constructor(
    message: string,
    readonly holders: readonly number[],
  ) {
    super(message);
  }
}

export interface InstanceLock {
  /** The bound socket's descriptor, for children that must hold the lock as long as they live. */
  readonly fd: number;
  release(): Promise<void>;
}

/**
 * The abstract socket name for `what` (a role and a path). Abstract names are per network
 * namespace: processes in other namespaces do not see each other's.
 */
export function lockName(role: string, path: string): string {
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    // Not created yet: the path as given is what a second instance would resolve it to as well.
  }
  return `dtcp-broker/${role}/${createHash("sha256").update(real).digest("hex").slice(0, 32)}`;
}

/** Binds the name, or throws InstanceLockedError naming the processes that hold it. */
export async function holdInstanceLock(name: string, describe: string): Promise<InstanceLock> {
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ path: `\0${name}` }, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    server.close();
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    const holders = lockHolders(name);
    throw new InstanceLockedError(`${describe} is already in use by ${holders.length > 0 ? holders.map(describeProcess).join(", ") : "another process"}`, holders);
  }
  // Nobody connects: a connection would only be someone probing the name.
  server.on("connection", (socket) => socket.destroy());
  return {
    fd: descriptorOf(server),
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Waits up to `waitMs` for the name to be free (a previous instance still shutting down), calling
 * `waiting` once with its holders if it has to wait.
 */
export async function awaitInstanceLock(name: string, describe: string, waitMs: number, waiting: (holders: readonly number[]) => void): Promise<InstanceLock> {
  const deadline = Date.now() + waitMs;
  let told = false;
  for (;;) {
    try {
      return await holdInstanceLock(name, describe);
    } catch (err) {
      if (!(err instanceof InstanceLockedError) || Date.now() >= deadline) throw err;
      if (!told) waiting(err.holders);
      told = true;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

function descriptorOf(server: Server): number {
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) throw new Error("the instance lock's socket has no descriptor");
  return fd;
}

/** The pids holding a socket bound to the abstract `name`: /proc/net/unix gives its inodes, /proc/<pid>/fd who has them. */
export function lockHolders(name: string): number[] {
  const inodes = new Set<string>();
  try {
    for (const line of readFileSync("/proc/net/unix", "utf8").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // Node binds abstract names padded with NULs to the whole address, which the kernel shows as '@'.
      if (fields[7]?.replace(/@+$/, "") === `@${name}`) inodes.add(fields[6]!);
    }
  } catch {
    return [];
  }
  const holders: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${entry}/fd/${fd}`);
        if (target.startsWith("socket:[") && inodes.has(target.slice(8, -1))) {
          holders.push(Number(entry));
          break;
        }
      } catch {
        // The descriptor closed meanwhile.
      }
    }
  }
  return holders;
}

function describeProcess(pid: number): string {
  let command = "";
  try {
    command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).slice(0, 3).join(" ");
  } catch {
    // Gone meanwhile.
  }
  return command ? `pid ${pid} (${command.length > 120 ? `${command.slice(0, 120)}…` : command})` : `pid ${pid}`;
}
