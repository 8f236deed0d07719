// Test processes inside network namespaces, driven over stdin/stdout with one JSON object a line:
// {id, op, args} → {id, value} or {id, error}. Bigints travel as numbers.

import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

type Handler = (args: Record<string, unknown>) => unknown;

/** Child side: answers requests with the handler named by `op`, one at a time in arrival order. */
export function serveAgent(handlers: Record<string, Handler>): void {
  let queue = Promise.resolve();
  const reply = (m: object): void => {
    process.stdout.write(JSON.stringify(m, (_, v: unknown) => (typeof v === "bigint" ? Number(v) : v)) + "\n");
  };
  createInterface({ input: process.stdin }).on("line", (line) => {
    const { id, op, args } = JSON.parse(line) as { id: number; op: string; args: Record<string, unknown> };
    queue = queue.then(async () => {
      try {
        const handler = handlers[op];
        if (!handler) throw new Error(`unknown op ${op}`);
        reply({ id, value: (await handler(args)) ?? null });
      } catch (err) {
        reply({ id, error: (err as Error).message });
      }
    });
  });
}

/** Parent side: a child agent started with `argv` (e.g. ip netns exec … node …). */
export class Agent {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 0;
  #stderr = "";

  constructor(argv: string[], cwd: string) {
    this.#child = spawn(argv[0]!, argv.slice(1), { cwd, stdio: ["pipe", "pipe", "pipe"] });
    this.#child.stderr!.on("data", (d: Buffer) => (this.#stderr += d.toString()));
    createInterface({ input: this.#child.stdout! }).on("line", (line) => {
      const m = JSON.parse(line) as { id: number; value?: unknown; error?: string };
      const w = this.#waiting.get(m.id);
      this.#waiting.delete(m.id);
      if (m.error !== undefined) w?.reject(new Error(m.error));
      else w?.resolve(m.value);
    });
    this.#child.on("exit", (code) => {
      for (const w of this.#waiting.values()) w.reject(new Error(`agent exited (${code}): ${this.#stderr}`));
      this.#waiting.clear();
    });
  }

  call<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.#next;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#child.stdin!.write(JSON.stringify({ id, op, args }) + "\n");
    });
  }

  /** Ends the agent (its sockets and TUN close with it). */
  async kill(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once("exit", resolve));
    this.#child.kill("SIGKILL");
    await exited;
  }
}
