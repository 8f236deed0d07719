// Helpers of the tests that run the real binaries (dtcps, dtcpc, dtcpctl) in network namespaces
// (the namespaces themselves: namespaces.ts).

import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root: bin/ is there. */
export const REPO = fileURLToPath(new URL("../..", import.meta.url));

/** Runs `node bin/dtcpctl.js args` on env's data directory, with `input` on stdin; returns its stdout, asserting exit 0. */
export function dtcpctl(env: NodeJS.ProcessEnv, args: string[], input?: string): string {
  const r = spawnSync(process.execPath, ["bin/dtcpctl.js", ...args], { cwd: REPO, env, input, encoding: "utf8" });
  assert.equal(r.status, 0, `dtcpctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/**
 * Node running `args` (a script of the repository and its arguments) inside network namespace
 * `ns`. `ip netns exec` execs, so the child's pid is node's.
 */
export function nodeIn(ns: string, args: string[], env: NodeJS.ProcessEnv): Child {
  return new Child("ip", ["netns", "exec", ns, process.execPath, ...args], { cwd: REPO, env });
}

/** A child process with its output kept by line, so that a test can wait for a line. */
export class Child {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  readonly #proc: ChildProcess;
  #waiters: (() => void)[] = [];
  #exitCode: number | null | undefined = undefined;

  constructor(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.#proc = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    for (const stream of [this.#proc.stdout!, this.#proc.stderr!]) {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (text: string) => {
        const parts = (partial + text).split("\n");
        partial = parts.pop()!;
        this.lines.push(...parts);
        this.#notify();
      });
    }
    this.exited = new Promise((resolve) =>
      this.#proc.once("exit", (code) => {
        this.#exitCode = code;
        this.#notify();
        resolve(code);
      }),
    );
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  get running(): boolean {
    return this.#exitCode === undefined;
  }

  get output(): string {
    return this.lines.join("\n");
  }

  /** Resolves with the first line (from index `from`) matching `pattern`. */
  waitFor(pattern: RegExp, ms = 10_000, from = 0): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const line = this.lines.slice(from).find((l) => pattern.test(l));
        if (line !== undefined) {
          clearTimeout(timer);
          resolve(line);
          return true;
        }
        if (!this.running) {
          clearTimeout(timer);
          reject(new Error(`exited (${this.#exitCode}) before printing ${pattern}:\n${this.output}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for ${pattern}:\n${this.output}`));
      }, ms);
      const waiter = () => {
        if (check()) this.#waiters = this.#waiters.filter((w) => w !== waiter);
      };
      if (!check()) this.#waiters.push(waiter);
    });
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    if (this.running) this.#proc.kill(signal);
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** Resolves once pred() holds, checking every 100 ms; rejects with `what` after ms. */
export async function eventually<T>(what: string, pred: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await pred();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
