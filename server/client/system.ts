// The client's calls out to the system: `ip` and the -s script.

import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** How long the -s script may run before it is killed. */
const SCRIPT_TIMEOUT_MS = 30_000;

/** Runs `ip <argv>`; rejects with ip's own message. */
export async function ip(argv: readonly string[]): Promise<void> {
  try {
    await execFileAsync("ip", argv, { timeout: 10_000 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`ip ${argv.join(" ")}: ${(e.stderr ?? "").trim() || e.message}`);
  }
}

/** Runs the -s script with its output on ours; resolves with a description of a failure, or null. */
export function runScript(path: string, args: readonly string[]): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn(path, args, { stdio: ["ignore", "inherit", "inherit"], timeout: SCRIPT_TIMEOUT_MS });
    child.once("error", (err) => resolve(`${path}: ${err.message}`));
    child.once("exit", (code, signal) => {
      if (code === 0) resolve(null);
      else resolve(`${path} ${args[0]} ${signal === null ? `exited with ${code}` : `was killed by ${signal}`}`);
    });
  });
}
