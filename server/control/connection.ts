import type { LiveSession, LoginOutcome, LoginRequest, SessionControl } from "../broker/broker.ts";
import type { Logger } from "../log.ts";
import type { EndReason } from "../repositories/sessions/repository.ts";
import { newChallenge } from "../protocol/challenge.ts";
import { parseCommand } from "../protocol/command.ts";
import { LineFramer } from "../protocol/line-framer.ts";
import {
  ALREADY_ESTABLISHED,
  BYE,
  greeting,
  HELP,
  LINE_TOO_LONG,
  PONG,
  TIMED_OUT,
  wire,
} from "../protocol/replies.ts";

/** The socket side of a control connection (a net.Socket in the daemon, a fake in tests). */
export interface ControlLink {
  readonly clientIpv4: string;
  readonly localIpv4: string;
  write(text: string): void;
  /** Closes after what was written has been sent. */
  end(): void;
}

/** What a connection needs of the broker. */
export interface LoginPort {
  login(req: LoginRequest, control: SessionControl): Promise<LoginOutcome>;
  end(session: LiveSession, reason: EndReason): Promise<void>;
}

export interface ControlTimeouts {
  /** From connect until the tunnel is up (KAME: 60 s). */
  authMs: number;
  /** Without any line once the tunnel is up (KAME: 300 s; clients ping every 60 s). */
  idleMs: number;
  /** An unterminated line is taken as complete after this much silence. */
  partialLineMs: number;
}

export const DEFAULT_TIMEOUTS: ControlTimeouts = { authMs: 60_000, idleMs: 300_000, partialLineMs: 250 };

const MAX_LINE_BYTES = 1024;

export interface ConnectionHooks {
  /** The connection authenticated (it stops counting as unauthenticated). */
  authenticated?(): void;
  /** The connection is finished and its session, if any, ended. */
  finished?(): void;
}

/**
 * One DTCP control connection: frames lines, answers commands in order, holds the session
 * and its timeouts. Nothing thrown by a command escapes: the client gets -ERR and the
 * daemon a log line.
 */
export class ControlConnection implements SessionControl {
  readonly #framer = new LineFramer(MAX_LINE_BYTES);
  readonly #challenge = newChallenge();
  #session: LiveSession | null = null;
  #closed = false;
  #endReason: EndReason = "closed";
  #work: Promise<void> = Promise.resolve();
  #deadline: NodeJS.Timeout | null = null;
  #partialTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly link: ControlLink,
    private readonly broker: LoginPort,
    private readonly timeouts: ControlTimeouts,
    private readonly log: Logger,
    private readonly hooks: ConnectionHooks = {},
  ) {}

  get session(): LiveSession | null {
    return this.#session;
  }

  start(): void {
    this.#send(greeting(this.#challenge));
    this.#deadline = setTimeout(() => this.#timedOut(), this.timeouts.authMs);
  }

  receive(chunk: Buffer): void {
    if (this.#closed) return;
    for (const event of this.#framer.push(chunk)) {
      if (event.kind === "too-long") {
        this.#close(LINE_TOO_LONG, "closed");
        return;
      }
      this.#enqueue(event.text);
    }
    if (this.#partialTimer) clearTimeout(this.#partialTimer);
    this.#partialTimer = this.#framer.hasPartial
      ? setTimeout(() => {
          this.#partialTimer = null;
          const partial = this.#framer.takePartial();
          if (partial !== null) this.#enqueue(partial);
        }, this.timeouts.partialLineMs)
      : null;
  }

  /** The peer went away (or the socket failed): end the session. */
  disconnected(): void {
    this.#closed = true;
    this.#clearTimers();
    // Queued commands finish first, so a login in flight is ended rather than leaked.
    this.#work = this.#work.then(async () => {
      const session = this.#session;
      this.#session = null;
      if (session) await this.broker.end(session, this.#endReason).catch((err: unknown) => this.#internal(err));
      this.hooks.finished?.();
    });
  }

  /** Called by the broker when it ended the session itself (replacement, shutdown). */
  terminate(reply: string | null): void {
    this.#session = null;
    this.#close(reply, this.#endReason);
  }

  #enqueue(line: string): void {
    this.#work = this.#work.then(() => this.#handle(line)).catch((err: unknown) => {
      this.#internal(err);
      this.#send("-ERR internal error");
    });
  }

  async #handle(line: string): Promise<void> {
    if (this.#closed) return;
    if (this.#session) this.#deadline?.refresh();
    const command = parseCommand(line);
    switch (command.kind) {
      case "empty":
        return;
      case "ping":
        return this.#send(PONG);
      case "help":
        return this.#send(HELP);
      case "quit":
        return this.#close(BYE, "quit");
      case "error":
        return this.#send(command.reply);
      case "tunnel": {
        if (this.#session) return this.#send(ALREADY_ESTABLISHED);
        this.log.debug(`tunnel ${command.type}${command.udp ? " udp" : ""} for ${JSON.stringify(command.user)} from ${this.link.clientIpv4}`);
        const outcome = await this.broker.login(
          { command, challenge: this.#challenge, clientIpv4: this.link.clientIpv4, localIpv4: this.link.localIpv4 },
          this,
        );
        if (outcome.session) {
          if (this.#closed) {
            // The client left while we were setting up.
            await this.broker.end(outcome.session, "closed");
            return;
          }
          this.#session = outcome.session;
          this.hooks.authenticated?.();
          this.#restartDeadline(this.timeouts.idleMs);
        }
        return this.#send(outcome.reply);
      }
    }
  }

  #timedOut(): void {
    this.#close(TIMED_OUT, "timeout");
  }

  #close(reply: string | null, reason: EndReason): void {
    if (this.#closed) return;
    this.#endReason = reason;
    if (reply !== null) this.#send(reply);
    this.#closed = true;
    this.#clearTimers();
    this.link.end();
  }

  #send(reply: string): void {
    if (!this.#closed) this.link.write(wire(reply));
  }

  #restartDeadline(ms: number): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = setTimeout(() => this.#timedOut(), ms);
  }

  #clearTimers(): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    if (this.#partialTimer) clearTimeout(this.#partialTimer);
    this.#deadline = this.#partialTimer = null;
  }

  #internal(err: unknown): void {
    this.log.warn(`control connection from ${this.link.clientIpv4}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
}
