import { type EndReason } from "../domain/types.ts";
import type { AttachRequest, GoneSignal, LiveSession, LoginOutcome, LoginRequest, SessionControl, TunnelCommand } from "../broker/broker.ts";
import { peerText, ProblemLog, type Logger } from "../log.ts";

import { newChallenge } from "../protocol/challenge.ts";
import { parseCommand } from "../protocol/command.ts";
import { LineFramer } from "../protocol/line-framer.ts";
import {
  ALREADY_ESTABLISHED,
  ATTACH_NOT_HERE,
  BYE,
  greeting,
  HELP,
  LINE_TOO_LONG,
  PONG,
  TEMPORARY_FAILURE,
  TIMED_OUT,
  wire,
} from "../protocol/replies.ts";

/** The socket side of a control connection (a net.Socket in the daemon, a fake in tests). */
export interface ControlLink {
  readonly clientIpv4: string;
  readonly clientPort: number;
  readonly localIpv4: string;
  /** Where this listener's TCP sessions attach their data connection; null: IPv6 over TCP not offered here. */
  readonly attachPort: number | null;
  /**
   * On a TCP tunnel listener: hands the socket over to carry packets (after `rest`, the bytes
   * received after the attach line); the link stops reading and no longer closes it.
   */
  takeStream?(rest: Buffer): { fd: number; input: Uint8Array };
  /**
   * Sends a reply. False when replies are queued past the link's limit: the connection answers
   * nothing more until `drained()` is called (and the link closes a peer that never drains).
   */
  write(text: string): boolean;
  /** Stops reading from the peer while received lines wait to be answered. */
  pause(): void;
  resume(): void;
  /** Closes after what was written has been sent. */
  end(): void;
}

/** What a connection needs of the broker. */
export interface LoginPort {
  login(req: LoginRequest, control: SessionControl, gone?: GoneSignal): Promise<LoginOutcome>;
  attach(req: AttachRequest): Promise<{ ok: true } | { ok: false; reply: string }>;
  end(session: LiveSession, reason: EndReason): Promise<void>;
}

export interface ControlTimeouts {
  /** From connect until the tunnel is up (KAME: 60 s). */
  authMs: number;
  /** Without any line once the tunnel is up (KAME: 300 s; clients ping every 60 s). */
  idleMs: number;
  /** An unterminated line is taken as complete after this much silence. */
  partialLineMs: number;
  /** A peer whose unread replies have not drained for this long is closed. */
  drainMs: number;
  /** After the server ends a connection (quit, timeout, line too long), a peer that has not closed its side by then is cut off. */
  lingerMs: number;
}

export const DEFAULT_TIMEOUTS: ControlTimeouts = { authMs: 60_000, idleMs: 300_000, partialLineMs: 250, drainMs: 30_000, lingerMs: 2_000 };

const MAX_LINE_BYTES = 1024;
/** Received bytes waiting to be answered past which the peer is not read: a few lines' worth, so pipelining still flows. */
export const MAX_PENDING_INPUT_BYTES = 4 * MAX_LINE_BYTES;
/**
 * Lines answered in one turn of the event loop before the connection yields: a peer that pipelines
 * thousands of lines per socket read must not hold the loop while other clients wait to log in.
 */
export const LINES_PER_TURN = 32;

export interface ConnectionHooks {
  /** The connection authenticated (it stops counting as unauthenticated). */
  authenticated?(): void;
  /** The connection is finished and its session, if any, ended. */
  finished?(): void;
}

/**
 * One DTCP control connection: frames lines, answers commands in order, holds the session
 * and its timeouts. Lines are taken one at a time and only while replies can go out, so a peer
 * that sends without reading fills its own socket buffers, not the daemon's memory. Nothing
 * thrown by a command escapes: the client is told to come back later (the failure is the server's,
 * not its own) and the daemon logs the cause.
 */
export class ControlConnection implements SessionControl {
  readonly #framer = new LineFramer(MAX_LINE_BYTES);
  readonly #challenge = newChallenge();
  #session: LiveSession | null = null;
  #closed = false;
  #endReason: EndReason = "closed";
  /** A command that waits on the broker (a login); no further line is taken meanwhile. */
  #work: Promise<void> = Promise.resolve();
  #busy = false;
  /** The link refused more replies until it drains. */
  #blocked = false;
  #paused = false;
  /** Called when the peer goes: a login still waiting its turn need not wait on. */
  #onGone: (() => void) | null = null;
  #deadline: NodeJS.Timeout | null = null;
  #partialTimer: NodeJS.Timeout | null = null;
  /** The rest of a pipelined batch, answered in a later turn. */
  #nextTurn: NodeJS.Immediate | null = null;

  constructor(
    private readonly link: ControlLink,
    private readonly broker: LoginPort,
    private readonly timeouts: ControlTimeouts,
    private readonly log: Logger,
    private readonly hooks: ConnectionHooks = {},
    /** Shared by the server's connections, so that a flood of failures is told once per cause. */
    private readonly problems: ProblemLog = new ProblemLog(log),
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
    this.#framer.append(chunk);
    if (this.#partialTimer) clearTimeout(this.#partialTimer);
    this.#partialTimer = null;
    this.#pump();
  }

  /** The link sent what it had queued: answering goes on. */
  drained(): void {
    this.#blocked = false;
    this.#pump();
  }

  /** The peer went away (or the socket failed): end the session. */
  disconnected(): void {
    this.#closed = true;
    this.#clearTimers();
    this.#onGone?.();
    this.#onGone = null;
    // A command in flight finishes first, so a login in flight is ended rather than leaked.
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

  /** Answers buffered lines in order while nothing is in flight and replies can go out. */
  #pump(): void {
    for (let budget = LINES_PER_TURN; this.#nextTurn === null && !this.#closed && !this.#busy && !this.#blocked; budget--) {
      if (budget === 0) {
        this.#nextTurn = setImmediate(() => {
          this.#nextTurn = null;
          this.#pump();
        });
        break;
      }
      const event = this.#framer.next();
      if (event === null) break;
      if (event.kind === "too-long") return this.#close(LINE_TOO_LONG, "closed");
      this.#run(event.text);
    }
    if (this.#closed) return;
    const overfull = this.#framer.bufferedBytes > MAX_PENDING_INPUT_BYTES;
    if (overfull !== this.#paused) {
      this.#paused = overfull;
      if (overfull) this.link.pause();
      else this.link.resume();
    }
    if (!this.#busy && !this.#blocked && this.#nextTurn === null && this.#framer.hasPartial && this.#partialTimer === null) {
      this.#partialTimer = setTimeout(() => {
        this.#partialTimer = null;
        const partial = this.#framer.takePartial();
        if (partial !== null && !this.#closed) this.#run(partial);
        this.#pump();
      }, this.timeouts.partialLineMs);
    }
  }

  #run(line: string): void {
    let pending: Promise<void> | void;
    try {
      pending = this.#handle(line);
    } catch (err) {
      return this.#failed(err);
    }
    if (pending === undefined) return;
    this.#busy = true;
    this.#work = pending
      .catch((err: unknown) => this.#failed(err))
      .finally(() => {
        this.#busy = false;
        this.#pump();
      });
  }

  #failed(err: unknown): void {
    this.#internal(err);
    this.#send(TEMPORARY_FAILURE);
  }

  #handle(line: string): Promise<void> | void {
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
      case "tunnel":
        if (this.#session) return this.#send(ALREADY_ESTABLISHED);
        return this.#login(command);
      case "attach":
        if (this.#session) return this.#send(ALREADY_ESTABLISHED);
        if (!this.link.takeStream) return this.#send(ATTACH_NOT_HERE);
        return this.#attach(command.token);
    }
  }

  async #login(command: TunnelCommand): Promise<void> {
    this.log.debug(`tunnel ${command.type}${command.udp ? " udp" : ""} for ${peerText(command.user)} from ${this.link.clientIpv4}`);
    const outcome = await this.broker.login(
      { command, challenge: this.#challenge, clientIpv4: this.link.clientIpv4, localIpv4: this.link.localIpv4, attachPort: this.link.attachPort },
      this,
      { onGone: (listener) => (this.#onGone = listener) },
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
    this.#send(outcome.reply);
  }

  /** A good token makes this connection the session's data connection: it answers no further line. */
  async #attach(token: string): Promise<void> {
    let taken = false;
    const outcome = await this.broker.attach({
      token,
      clientIpv4: this.link.clientIpv4,
      clientPort: this.link.clientPort,
      take: () => {
        taken = true;
        this.#closed = true;
        this.#clearTimers();
        this.hooks.authenticated?.();
        return this.link.takeStream!(this.#framer.takeRest());
      },
    });
    if (!outcome.ok && !taken) this.#close(outcome.reply, "closed");
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
    if (!this.#closed && !this.link.write(wire(reply))) this.#blocked = true;
  }

  #restartDeadline(ms: number): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = setTimeout(() => this.#timedOut(), ms);
  }

  #clearTimers(): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    if (this.#partialTimer) clearTimeout(this.#partialTimer);
    if (this.#nextTurn) clearImmediate(this.#nextTurn);
    this.#deadline = this.#partialTimer = null;
    this.#nextTurn = null;
  }

  #internal(err: unknown): void {
    this.problems.report("control connection", err);
  }
}
