// Route and address changes through one long-lived `ip -force -batch -`: about 0.02 ms per
// command against about 5 ms for an `ip` process per command (measured here), which matters
// when hundreds of clients log in at once after a restart.
//
// `ip` says nothing on success, so each command is followed by a fence: a line `ip` rejects at
// once. With -force it reports every failure on stderr, in order, as "Command failed -:<line>"
// after the failure's own message. Command k is on line 2k-1 and its fence on line 2k: the
// fence's report means command k is done, and a report for line 2k-1 before it means it failed.

import { spawn, type ChildProcess } from "node:child_process";

const FENCE = "fence";
const FAILED = /^Command failed -:(\d+)$/;

/** Completion of the command on line `line`: error is ip's message, null on success. */
export interface Completion {
  line: number;
  error: string | null;
}

/** Turns `ip -force -batch` stderr into completions of the commands on odd lines. */
export class IpBatchOutput {
  #partial = "";
  #message: string[] = [];
  readonly #failed = new Map<number, string>();

  feed(chunk: string): Completion[] {
    const lines = (this.#partial + chunk).split("\n");
    this.#partial = lines.pop()!;
    const done: Completion[] = [];
    for (const text of lines) {
      const m = FAILED.exec(text);
      if (!m) {
        this.#message.push(text);
        continue;
      }
      const n = Number(m[1]);
      const message = this.#message.join("\n").trim();
      this.#message = [];
      if (n % 2 === 1) {
        this.#failed.set(n, message || "failed");
        continue;
      }
      const line = n - 1;
      done.push({ line, error: this.#failed.get(line) ?? null });
      this.#failed.delete(line);
    }
    return done;
  }
}

interface Pending {
  command: string;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Runs `ip` commands (arguments of one `ip` invocation, without options) through one child. */
export class IpBatch {
  #child: ChildProcess | null = null;
  #output = new IpBatchOutput();
  #line = 0;
  readonly #pending = new Map<number, Pending>();

  /** Runs e.g. "route add 2001:db8::/32 dev dtcp0"; rejects with ip's message. */
  run(command: string): Promise<void> {
    if (/[\n\r]/.test(command)) return Promise.reject(new Error(`ip command spans lines: ${JSON.stringify(command)}`));
    const child = this.#child ?? this.#spawn();
    const line = this.#line + 1;
    this.#line += 2;
    return new Promise((resolve, reject) => {
      this.#pending.set(line, { command, resolve, reject });
      child.stdin!.write(`${command}\n${FENCE}\n`);
    });
  }

  /** Lets the child finish the queued commands and exit. */
  async close(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
    child.stdin!.end();
    await exited;
  }

  #spawn(): ChildProcess {
    // Its own process group: a Ctrl-C on the terminal must not kill it before stop() removes the
    // routes through it. It exits by itself when our end of its stdin closes.
    const child = spawn("ip", ["-force", "-batch", "-"], { stdio: ["pipe", "ignore", "pipe"], detached: true });
    this.#child = child;
    this.#output = new IpBatchOutput();
    this.#line = 0;
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      for (const { line, error } of this.#output.feed(chunk)) {
        const p = this.#pending.get(line);
        if (!p) continue;
        this.#pending.delete(line);
        if (error === null) p.resolve();
        else p.reject(new Error(`ip ${p.command}: ${error}`));
      }
    });
    // Anything still pending when the child goes (killed, or ip missing) fails; the next run() respawns.
    const fail = (why: string): void => {
      if (this.#child === child) this.#child = null;
      for (const [line, p] of this.#pending) {
        this.#pending.delete(line);
        p.reject(new Error(`ip ${p.command}: ${why}`));
      }
    };
    child.on("error", (err) => fail(err.message));
    child.on("close", (code, signal) => fail(`ip -batch exited (${signal ?? code})`));
    child.stdin!.on("error", () => {}); // EPIPE after the child died: reported by "close"
    return child;
  }
}
