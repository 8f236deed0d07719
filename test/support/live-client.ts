import WebSocket from "ws";
import type { LiveClientMessage, LiveRow, LiveServerMessage } from "../../server/api/live.ts";
import { LIVE_PROTOCOL } from "../../server/api/server.ts";

/**
 * A viewer of the live-session API over a real WebSocket: records every message and keeps the
 * table they describe (snapshot, then diffs) the way the web UI does.
 */
export class LiveClient {
  readonly messages: LiveServerMessage[] = [];
  readonly rows = new Map<number, LiveRow>();
  #cursor = 0;
  #wake: (() => void)[] = [];
  #closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const message = JSON.parse(data.toString()) as LiveServerMessage;
      this.messages.push(message);
      this.#apply(message);
      for (const wake of this.#wake.splice(0)) wake();
    });
    this.#closed = new Promise((resolve) => ws.once("close", (code) => resolve(code)));
  }

  /** Connects with `token` in the subprotocol header; autoPong false plays a viewer that went silent. */
  static connect(port: number, token: string, options: { autoPong?: boolean; path?: string } = {}): Promise<LiveClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${options.path ?? "/live"}`, [LIVE_PROTOCOL, token], { autoPong: options.autoPong ?? true });
    const client = new LiveClient(ws);
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(client));
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once("error", reject);
    });
  }

  /** The HTTP status an upgrade with these subprotocols (or none) gets instead of a WebSocket. */
  static refusal(port: number, protocols: string[] | undefined, path = "/live"): Promise<number> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols);
    return new Promise((resolve, reject) => {
      ws.once("unexpected-response", (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.once("open", () => reject(new Error("the connection was accepted")));
      ws.once("error", () => {});
    });
  }

  send(message: LiveClientMessage): void {
    this.ws.send(JSON.stringify(message));
  }

  /** The next message (after those already taken) that passes `match`. */
  async next<T extends LiveServerMessage>(match: (m: LiveServerMessage) => m is T, timeoutMs?: number): Promise<T>;
  async next(match: (m: LiveServerMessage) => boolean, timeoutMs?: number): Promise<LiveServerMessage>;
  async next(match: (m: LiveServerMessage) => boolean, timeoutMs = 3_000): Promise<LiveServerMessage> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      while (this.#cursor < this.messages.length) {
        const message = this.messages[this.#cursor++]!;
        if (match(message)) return message;
      }
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves to the close code once the connection has closed. */
  closed(): Promise<number> {
    return this.#closed;
  }

  close(): void {
    this.ws.terminate();
  }

  #apply(message: LiveServerMessage): void {
    if (message.type === "snapshot") {
      this.rows.clear();
      for (const row of message.rows) this.rows.set(row.sessionId, row);
    } else if (message.type === "diff") {
      for (const id of message.removed) this.rows.delete(id);
      for (const row of [...message.added, ...message.changed]) this.rows.set(row.sessionId, row);
    }
  }
}

export const isSnapshot = (m: LiveServerMessage): m is Extract<LiveServerMessage, { type: "snapshot" }> => m.type === "snapshot";
export const isDiff = (m: LiveServerMessage): m is Extract<LiveServerMessage, { type: "diff" }> => m.type === "diff";
