import { randomBytes } from "node:crypto";
import { TRANSPORTS, TUNNEL_TYPES, type EndReason, type Transport, type TunnelType } from "../domain/types.ts";
import { isBusy, type LoginRecord, type LoginStore, type UserCredential } from "../db/login-store.ts";
import type { DataPlane, StreamHandover, TunnelSpec, TunnelStats } from "../dataplane/types.ts";
import { describeError, type Logger } from "../log.ts";
import { isIpv4 } from "../net/ipv4.ts";
import { responseMatches, tunnelResponse } from "../protocol/challenge.ts";
import type { Command } from "../protocol/command.ts";
import {
  ATTACH_REFUSED,
  ATTACHED,
  AUTH_FAILED,
  NO_DATA_CONNECTION,
  PASSWORD_CHANGED,
  SERVER_SHUTTING_DOWN,
  SESSION_KICKED,
  SESSION_REPLACED,
  SOLD_OUT,
  TCP_NOT_ENABLED,
  TOO_MANY_FAILURES,
  tooManyLogins,
  tunnelReply,
  USER_MOVED,
  USER_REVOKED,
  wire,
} from "../protocol/replies.ts";
import type { Actor, AuditEntry } from "../repositories/audit/repository.ts";
import { NotProvisionedError, SoldOutError } from "../repositories/delegations/repository.ts";
import type { SessionLedger } from "../repositories/sessions/repository.ts";
import { parseList, USER_NAME } from "../repositories/users/schema.ts";
import type { SecretBox } from "../secrets/tunnel-password.ts";
import type { Repositories } from "../storage/storage.ts";
import type { LoginThrottle } from "../security/login-throttle.ts";
import { FailedLoginAudit, type FailedLoginLimits, type FailedLoginSummary } from "../security/failed-logins.ts";
import { LoginRate, type LoginRateLimits } from "../security/login-rate.ts";
import type { MetricFamily, MetricsSource } from "../metrics/exposition.ts";
import { RefusalReports } from "../control/abuse.ts";
import { UdpPortPool } from "./udp-ports.ts";

export type TunnelCommand = Extract<Command, { kind: "tunnel" }>;

export interface BrokerOptions {
  /** The POP this daemon serves: only its users are let in. */
  popId: number;
  /** dtcps -U: IPv6 over UDP/IPv4 is offered. */
  udpEnabled: boolean;
  /** dtcps -b: first server UDP port. */
  udpBasePort: number;
  /** The server IPv4 put in replies; by default the address the client connected to. */
  publicIpv4: string | null;
  /** A TCP session's data connection must come from its control connection's address (else: from anywhere, for pooling NATs). */
  strictOuterSource: boolean;
  /** How long a TCP session waits for its data connection; default 30 s. */
  attachTimeoutMs?: number;
  /** How often one user may log in (successfully); a client in a loop is slowed to it. */
  loginRate?: LoginRateLimits;
  /** How failed logins are summarised in the audit log. */
  failedLogins?: FailedLoginLimits;
}

/** Logins refused before any password check, for /metrics. */
export interface LoginRefusalCounters {
  /** The name cannot be a user name (too long, or characters no user name has): refused unread. */
  malformedUser: number;
  /** The user logged in too often in a short time. */
  tooFrequent: number;
}

/** How long an IPv6-over-TCP login's token waits for its data connection. */
const ATTACH_TIMEOUT_MS = 30_000;
/** How long a stopping daemon waits for the database to take its sessions' ends. */
const SHUTDOWN_WRITE_MS = 5_000;

/** A data connection presenting its token: where it comes from, and how to take its socket once the token is good. */
export interface AttachRequest {
  token: string;
  clientIpv4: string;
  clientPort: number;
  /** Hands the connection's socket over (the control plane stops reading it); only called for a good token. */
  take(): Omit<StreamHandover, "output" | "peerIpv4" | "peerPort">;
}

/** Tells a login still waiting its turn that its connection closed (one listener; cheaper than an AbortSignal per connection). */
export interface GoneSignal {
  onGone(listener: () => void): void;
}

/** How the broker reaches the control connection of a session it ends from outside (replacement, kick, shutdown). */
export interface SessionControl {
  terminate(reply: string | null): void;
}

export interface LiveSession {
  readonly id: number;
  readonly userId: number;
  readonly userName: string;
  readonly type: TunnelType;
  readonly transport: Transport;
  readonly clientIpv4: string;
  readonly serverIpv4: string;
  readonly clientUdpPort: number | null;
  readonly serverUdpPort: number | null;
  readonly clientIpv6: string | null;
  readonly serverIpv6: string | null;
  /** Routed prefix of a network tunnel, CIDR. */
  readonly prefix: string | null;
  readonly startedAt: Date;
  readonly control: SessionControl;
  ended: boolean;
}

/** What observers (the live-session API) see of a live session: no control handle, plus the data plane's latest figures. */
export type LiveSessionView = Omit<LiveSession, "control" | "ended"> & { readonly stats: TunnelStats | null };

export interface LoginRequest {
  command: TunnelCommand;
  challenge: string;
  /** The client's IPv4 as seen on the control connection. */
  clientIpv4: string;
  /** The local address the client connected to. */
  localIpv4: string;
  /** Where a TCP session's data connection attaches, as this listener offers it; null: IPv6 over TCP is not offered here. */
  attachPort: number | null;
}

export type LoginOutcome = { reply: string; session: LiveSession | null };

const DTCPS: Actor = { name: "dtcps" };

/** Waits `ms`; false when the connection went meanwhile. */
function waitUnlessGone(ms: number, gone: GoneSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(true), ms);
    gone?.onGone(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

function transportOf(command: TunnelCommand): Transport {
  return command.udp ? "udp" : command.tcp ? "tcp" : "proto41";
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

/**
 * The control plane's core: checks logins, provisions addresses, keeps one live session per user,
 * records sessions and drives the data plane.
 */
export class Broker implements MetricsSource {
  readonly #live = new Map<string, LiveSession>();
  /** Sessions whose row exists while their tunnel is being set up. */
  readonly #opening = new Set<number>();
  /**
   * The sealed DTCP password each live session logged in with, by session id, as hex: a copy, so
   * that no session keeps the database driver's buffer (and the slab it may share) alive.
   */
  readonly #credentials = new Map<number, string>();
  /** The user table as revokeStale last read it (LoginStore.usersStamp). */
  #usersStamp: string | null = null;
  /** Sessions established since revokeStale last ran. */
  readonly #unchecked = new Set<LiveSession>();
  readonly #userTurns = new Map<string, Promise<unknown>>();
  readonly #udpPorts: UdpPortPool;
  /** TCP sessions waiting for their data connection, by token (one each, expiring). */
  readonly #awaitingAttach = new Map<string, { session: LiveSession; timer: NodeJS.Timeout }>();
  /** The token each of those sessions waits with, so that ending one finds it at once. */
  readonly #attachTokens = new Map<LiveSession, string>();
  readonly #failedLogins: FailedLoginAudit;
  readonly #loginRate: LoginRate;
  readonly #reports = new RefusalReports();
  readonly refusals: LoginRefusalCounters = { malformedUser: 0, tooFrequent: 0 };

  constructor(
    private readonly storage: Pick<Repositories, "allocations" | "audit">,
    private readonly store: LoginStore,
    private readonly box: SecretBox,
    private readonly ledger: SessionLedger,
    private readonly dataPlane: DataPlane,
    private readonly throttle: LoginThrottle,
    private readonly log: Logger,
    private readonly options: BrokerOptions,
  ) {
    this.#udpPorts = new UdpPortPool(options.udpBasePort);
    this.#failedLogins = new FailedLoginAudit(options.failedLogins);
    this.#loginRate = new LoginRate(options.loginRate);
    dataPlane.onLost((sessionId, reason) => {
      const session = this.liveSessions.find((s) => s.id === sessionId);
      if (!session) return;
      this.log.info(`session ${sessionId} of ${session.userName}: ${reason}; ending it`);
      void this.#endAndTell(session, "tunnel-lost", `-ERR tunnel connection closed: ${reason}`).catch((err: unknown) =>
        this.log.warn(`ending session ${sessionId}: ${(err as Error).message}`),
      );
    });
  }

  /** The sessions this daemon really holds: live, or being set up. */
  heldSessionIds(): Set<number> {
    return new Set([...this.#opening, ...[...this.#live.values()].map((s) => s.id)]);
  }

  get liveSessions(): LiveSession[] {
    return [...this.#live.values()];
  }

  /** Every live session with its current traffic figures, read-only. */
  liveView(): LiveSessionView[] {
    return this.liveSessions.map(({ control: _control, ended: _ended, ...session }) => ({ ...session, stats: this.dataPlane.stats(session.id) }));
  }

  /** `gone` ends a login still waiting its turn in the throttle (its connection closed). */
  async login(req: LoginRequest, control: SessionControl, gone?: GoneSignal): Promise<LoginOutcome> {
    const { user } = req.command;
    // No such user can exist: nothing to look up, throttle, audit or log, whatever the name holds.
    if (!USER_NAME.test(user)) {
      this.refusals.malformedUser++;
      return { reply: AUTH_FAILED, session: null };
    }
    const reservation = this.throttle.reserve(req.clientIpv4, user);
    if (!reservation.ok) {
      if (this.#reports.due(`throttled ${req.clientIpv4}`)) this.log.info(`logins from ${req.clientIpv4} not checked: too many failures waiting (said once a minute)`);
      return { reply: TOO_MANY_FAILURES, session: null };
    }
    const { ticket } = reservation;
    let record: LoginRecord | null;
    let refusal: string | null;
    try {
      if (reservation.waitMs > 0 && !(await waitUnlessGone(reservation.waitMs, gone))) {
        ticket.abandoned();
        return { reply: AUTH_FAILED, session: null };
      }
      record = await this.store.loginRecord(user);
      refusal = this.#check(req, record);
    } catch (err) {
      ticket.abandoned();
      throw err;
    }
    if (refusal !== null || record === null) {
      await this.#refuse(req, refusal ?? "unknown user", ticket.failed());
      return { reply: AUTH_FAILED, session: null };
    }
    ticket.succeeded();
    const waitMs = this.#loginRate.take(record.name);
    if (waitMs > 0) {
      this.refusals.tooFrequent++;
      if (this.#reports.due(`often ${record.name}`)) {
        this.log.warn(`${record.name} logs in too often (a client in a loop?): logins refused for now (said once a minute)`);
        this.#audit({ ...DTCPS, source: req.clientIpv4 }, { action: "dtcp.limit.logins", target: record.name, after: { burst: this.#loginRate.limits.burst, refillSeconds: this.#loginRate.limits.refillMs / 1000 } }).catch(
          (err: unknown) => this.log.warn(`audit log write failed: ${describeError(err)}`),
        );
      }
      return { reply: tooManyLogins(Math.ceil(waitMs / 1000)), session: null };
    }
    if (req.command.udp && !this.options.udpEnabled) {
      return { reply: "-ERR UDP tunnels are not enabled on this server (dtcps -U)", session: null };
    }
    if (req.command.tcp && req.attachPort === null) return { reply: TCP_NOT_ENABLED, session: null };
    if (!isIpv4(req.clientIpv4)) {
      return { reply: "-ERR tunnels need IPv4: connect to the server over IPv4", session: null };
    }
    // Logins of one user run one after another, so replacement and provisioning never race.
    return this.#inTurn(user, () => this.#establish(req, record, control));
  }

  /** Ends a session once, whoever asks first (its connection, a replacement, shutdown). */
  async end(session: LiveSession, reason: EndReason): Promise<void> {
    if (session.ended) return;
    session.ended = true;
    if (this.#live.get(session.userName) === session) this.#live.delete(session.userName);
    this.#credentials.delete(session.id);
    let counters = null;
    try {
      counters = await this.dataPlane.close(session.id);
    } catch (err) {
      this.log.warn(`data plane could not close session ${session.id}: ${(err as Error).message}`);
    }
    if (session.serverUdpPort !== null) this.#udpPorts.release(session.serverUdpPort);
    const token = this.#attachTokens.get(session);
    if (token !== undefined) {
      clearTimeout(this.#awaitingAttach.get(token)?.timer);
      this.#forgetAttach(token, session);
    }
    await this.ledger.end(session.id, reason, counters);
    this.log.info(`session ${session.id} of ${session.userName} ended: ${reason}`);
  }

  /**
   * Ends a live session on an administrator's request, tells its client and records who did it.
   * False when no session with that id is live (it ended meanwhile, or never was).
   */
  async kick(sessionId: number, actor: Actor): Promise<boolean> {
    const session = this.liveSessions.find((s) => s.id === sessionId);
    if (!session) return false;
    await this.#endAndTell(session, "kicked", SESSION_KICKED);
    const before = { sessionId, type: session.type, transport: session.transport, clientIpv4: session.clientIpv4, startedAt: session.startedAt };
    await this.storage.audit.record(actor, { action: "session.kick", target: session.userName, before });
    return true;
  }

  /**
   * Ends, at once, the live sessions whose user was removed, disabled or moved to another POP, or
   * whose DTCP password was changed since the login, wherever that was done (web app, dtcpctl,
   * another POP): the database is asked. Returns how many ended.
   */
  async revokeStale(): Promise<number> {
    // Cheap while nothing changed: every live session's user is read again only when the user table
    // changed; otherwise only sessions that came up since the last check (a change may have
    // landed while they were logging in).
    const stamp = await this.store.usersStamp();
    const live = stamp === this.#usersStamp ? [...this.#unchecked].filter((s) => !s.ended) : this.liveSessions;
    const now = live.length === 0 ? new Map<number, UserCredential>() : await this.store.credentials([...new Set(live.map((s) => s.userId))]);
    // Only once the users were read: a failed read is tried again in full next time.
    this.#usersStamp = stamp;
    this.#unchecked.clear();
    const stale = live.flatMap((session): { session: LiveSession; reply: string; reason: EndReason; why: string }[] => {
      const credential = now.get(session.userId);
      const loggedInWith = this.#credentials.get(session.id);
      if (credential === undefined || credential.disabled) return [{ session, reply: USER_REVOKED, reason: "revoked", why: credential ? "disabled" : "removed" }];
      if (loggedInWith !== undefined && !this.#samePassword(session, loggedInWith, credential.tunnelPassword)) {
        return [{ session, reply: PASSWORD_CHANGED, reason: "revoked", why: "DTCP password changed" }];
      }
      if (credential.popId !== this.options.popId) return [{ session, reply: USER_MOVED, reason: "moved", why: "moved to another POP" }];
      return [];
    });
    await Promise.all(
      stale.map(({ session, reply, reason, why }) => {
        this.log.info(`session ${session.id} of ${session.userName}: ${why}; ending it`);
        return this.#endAndTell(session, reason, reply);
      }),
    );
    return stale.length;
  }

  /**
   * A data connection presents its token: a good one (issued to a live TCP session, not used or
   * expired, from the session's client address) hands the connection to the data plane, which
   * answers `+OK attached` and carries the session's packets on it. Returns the reply to send
   * otherwise.
   */
  async attach(req: AttachRequest): Promise<{ ok: true } | { ok: false; reply: string }> {
    const waiting = this.#awaitingAttach.get(req.token);
    if (!waiting || waiting.session.ended) {
      this.log.info(`attach from ${req.clientIpv4}:${req.clientPort} refused: unknown or expired token`);
      return { ok: false, reply: ATTACH_REFUSED };
    }
    const { session } = waiting;
    if (this.options.strictOuterSource && req.clientIpv4 !== session.clientIpv4) {
      this.log.info(`attach to session ${session.id} of ${session.userName} from ${req.clientIpv4} refused: the control connection came from ${session.clientIpv4}`);
      return { ok: false, reply: ATTACH_REFUSED };
    }
    clearTimeout(waiting.timer);
    this.#forgetAttach(req.token, session);
    const taken = req.take();
    try {
      await this.dataPlane.attachStream(session.id, { ...taken, output: Buffer.from(wire(ATTACHED), "latin1"), peerIpv4: req.clientIpv4, peerPort: req.clientPort });
    } catch (err) {
      this.log.warn(`session ${session.id}: the data connection could not be attached: ${(err as Error).message}`);
      await this.#endAndTell(session, "setup-failed", "-ERR tunnel set-up failed");
      return { ok: true };
    }
    this.log.info(`session ${session.id} of ${session.userName}: tunnel connection from ${req.clientIpv4}:${req.clientPort}`);
    return { ok: true };
  }

  /** Ends every live session (daemon stopping) and tells each client why. */
  async shutdown(): Promise<void> {
    await Promise.all(this.liveSessions.map((s) => this.#endAndTell(s, "shutdown", SERVER_SHUTTING_DOWN)));
    const unwritten = await this.ledger.drain(SHUTDOWN_WRITE_MS);
    if (unwritten > 0) this.log.warn(`${unwritten} session ends could not be written (the database is unavailable): the next start of this POP ends them at its last heartbeat`);
  }

  /** Ends a session from outside its connection, then closes the connection with `reply`. */
  async #endAndTell(session: LiveSession, reason: EndReason, reply: string): Promise<void> {
    await this.end(session, reason);
    session.control.terminate(reply);
  }

  /**
   * Whether the password stored now is the one the session logged in with. Other sealed bytes need
   * not mean another password: a key rotation seals every password anew (dtcpctl secret-key reseal).
   */
  #samePassword(session: LiveSession, loggedInWith: string, stored: Uint8Array): boolean {
    const now = hex(stored);
    if (now === loggedInWith) return true;
    try {
      if (this.box.open(session.userName, Buffer.from(loggedInWith, "hex")) !== this.box.open(session.userName, stored)) return false;
    } catch {
      return false;
    }
    this.#credentials.set(session.id, now);
    return true;
  }

  #check(req: LoginRequest, record: LoginRecord | null): string | null {
    if (record === null) return "unknown user";
    let password: string;
    try {
      password = this.box.open(record.name, record.tunnelPassword);
    } catch (err) {
      this.log.warn((err as Error).message);
      return "stored password unreadable";
    }
    if (!responseMatches(tunnelResponse(record.name, req.challenge, password), req.command.response)) return "wrong response";
    if (record.disabled) return "user disabled";
    if (record.popId !== this.options.popId) return "served by another POP";
    if (!parseList(record.allowedTypes, TUNNEL_TYPES).includes(req.command.type)) return `type ${req.command.type} not allowed`;
    const transport = transportOf(req.command);
    if (!parseList(record.allowedTransports, TRANSPORTS).includes(transport)) return `transport ${transport} not allowed`;
    return null;
  }

  async #refuse(req: LoginRequest, reason: string, counts: { addressFailures: number; userFailures: number }): Promise<void> {
    const { user } = req.command;
    if (this.#failedLogins.record({ source: req.clientIpv4, user, reason }) === "counted") return;
    this.log.info(`login refused for ${JSON.stringify(user)} from ${req.clientIpv4}: ${reason}`);
    await this.#audit({ ...DTCPS, source: req.clientIpv4 }, { action: "dtcp.login.failed", target: user, after: { reason, ...counts } });
  }

  /**
   * Writes the summaries of failed logins whose window has closed (every one with `everything`):
   * one entry per address and window, with the attempts by user name and by reason.
   */
  async flushFailedLogins(everything = false): Promise<void> {
    for (const summary of this.#failedLogins.take(everything)) {
      const names = Object.keys(summary.users);
      this.log.info(`${summary.attempts} more failed logins from ${summary.source} (${names.length + (summary.otherUsers > 0 ? "+" : "")} user names) between ${summary.firstAt.toISOString()} and ${summary.lastAt.toISOString()}`);
      const oneUser = names.length === 1 && summary.otherUsers === 0 ? { target: names[0]! } : {};
      await this.#audit({ ...DTCPS, source: summary.source }, { action: "dtcp.login.failed", ...oneUser, after: summaryJson(summary) });
    }
  }

  collectMetrics(): MetricFamily[] {
    return [
      {
        name: "dtcp_logins_refused_unchecked_total",
        help: "DTCP logins refused before any password check, by reason.",
        type: "counter",
        samples: [
          { labels: { reason: "malformed-user" }, value: this.refusals.malformedUser },
          { labels: { reason: "too-frequent" }, value: this.refusals.tooFrequent },
        ],
      },
    ];
  }

  /** Forgets old bookkeeping; called now and then. */
  sweep(): void {
    this.#loginRate.sweep();
    this.#reports.sweep();
  }

  async #audit(actor: Actor, entry: AuditEntry): Promise<void> {
    try {
      await this.store.audit(actor, entry, new Date());
    } catch (err) {
      // Locked by another writer: the slower path waits its turn instead of losing the entry.
      if (!isBusy(err)) throw err;
      await this.storage.audit.record(actor, entry).catch((e: unknown) => this.log.warn(`audit log write failed: ${(e as Error).message}`));
    }
  }

  async #establish(req: LoginRequest, record: LoginRecord, control: SessionControl): Promise<LoginOutcome> {
    const { command } = req;
    const serverIpv4 = this.options.publicIpv4 ?? req.localIpv4;
    let clientIpv6: string | null = null;
    let serverIpv6: string | null = null;
    let prefix: string | null = null;
    try {
      if (command.type === "host") {
        const pair = record.linkPair ?? (await this.storage.allocations.linkPairForLogin(record.id, record.name, DTCPS));
        clientIpv6 = pair.clientAddress;
        serverIpv6 = pair.serverAddress;
      } else if (command.type === "network") {
        prefix = record.delegation ?? (await this.storage.allocations.delegationForLogin(record.id, record.name, DTCPS)).prefix;
      }
    } catch (err) {
      if (err instanceof SoldOutError) return { reply: SOLD_OUT, session: null };
      if (err instanceof NotProvisionedError) return { reply: `-ERR ${err.message}`, session: null };
      throw err;
    }

    // Replaced only now: a login that cannot be provisioned leaves the working session alone.
    const previous = this.#live.get(record.name);
    if (previous) await this.#endAndTell(previous, "replaced", SESSION_REPLACED);

    let serverUdpPort: number | null = null;
    if (command.udp) {
      serverUdpPort = this.#udpPorts.take();
      if (serverUdpPort === null) return { reply: SOLD_OUT, session: null };
    }
    const transport = transportOf(command);
    const spec: Omit<TunnelSpec, "sessionId"> = {
      userName: record.name,
      type: command.type,
      transport,
      clientIpv4: req.clientIpv4,
      serverIpv4,
      localIpv4: req.localIpv4,
      clientUdpPort: command.udp?.clientPort ?? null,
      serverUdpPort,
      clientIpv6,
      serverIpv6,
      prefix,
      mtu: record.mtu,
    };
    let id: number;
    try {
      id = await this.ledger.start({
        userId: record.id,
        userName: record.name,
        type: spec.type,
        transport,
        clientIpv4: spec.clientIpv4,
        serverIpv4,
        clientUdpPort: spec.clientUdpPort,
        serverUdpPort,
        clientIpv6,
        serverIpv6,
        prefix,
      });
    } catch (err) {
      if (serverUdpPort !== null) this.#udpPorts.release(serverUdpPort);
      throw err;
    }
    const session: LiveSession = {
      id,
      userId: record.id,
      userName: record.name,
      type: command.type,
      transport,
      clientIpv4: req.clientIpv4,
      serverIpv4,
      clientUdpPort: spec.clientUdpPort,
      serverUdpPort,
      clientIpv6,
      serverIpv6,
      prefix,
      startedAt: new Date(),
      control,
      ended: false,
    };
    this.#opening.add(id);
    try {
      await this.dataPlane.open({ ...spec, sessionId: id });
    } catch (err) {
      this.log.warn(`tunnel set-up failed for session ${id} of ${record.name}: ${(err as Error).message}`);
      await this.end(session, "setup-failed");
      return { reply: "-ERR tunnel set-up failed", session: null };
    } finally {
      this.#opening.delete(id);
    }
    this.#live.set(record.name, session);
    this.#credentials.set(id, hex(record.tunnelPassword));
    this.#unchecked.add(session);
    // IPv6 over TCP: the packets go over a connection the client opens next, which proves it is
    // this session's with a token nobody else has seen.
    const tcp = transport === "tcp" ? { port: req.attachPort!, token: this.#awaitAttach(session) } : null;
    this.log.info(
      `session ${id}: ${record.name} ${command.type} over ${transport} from ${req.clientIpv4}` +
        (serverUdpPort !== null ? ` (server udp ${serverUdpPort}, ${spec.clientUdpPort === null ? "asked for NAT traversal" : `client port ${spec.clientUdpPort}`})` : "") +
        (tcp ? ` (tunnel connection awaited on port ${tcp.port})` : ""),
    );
    const [prefixAddress, prefixLength] = (prefix ?? "").split("/");
    const common = { clientIPv4: req.clientIpv4, serverIPv4: serverIpv4, serverUdpPort, tcp };
    const reply =
      command.type === "host"
        ? tunnelReply({ ...common, type: "host", clientIPv6: clientIpv6!, serverIPv6: serverIpv6! })
        : command.type === "network"
          ? tunnelReply({ ...common, type: "network", prefix: prefixAddress!, prefixLength: Number(prefixLength) })
          : tunnelReply({ ...common, type: "tunnelonly" });
    return { reply, session };
  }

  /** A token for the session's data connection; without one within the attach timeout, the session ends. */
  #awaitAttach(session: LiveSession): string {
    const token = randomBytes(16).toString("hex");
    const timer = setTimeout(() => {
      if (!this.#awaitingAttach.has(token)) return;
      this.#forgetAttach(token, session);
      this.log.info(`session ${session.id} of ${session.userName}: no tunnel connection within ${(this.options.attachTimeoutMs ?? ATTACH_TIMEOUT_MS) / 1000} s`);
      void this.#endAndTell(session, "timeout", NO_DATA_CONNECTION).catch((err: unknown) => this.log.warn((err as Error).message));
    }, this.options.attachTimeoutMs ?? ATTACH_TIMEOUT_MS);
    this.#awaitingAttach.set(token, { session, timer });
    this.#attachTokens.set(session, token);
    return token;
  }

  #forgetAttach(token: string, session: LiveSession): void {
    this.#awaitingAttach.delete(token);
    this.#attachTokens.delete(session);
  }

  #inTurn<T>(user: string, work: () => Promise<T>): Promise<T> {
    const before = this.#userTurns.get(user) ?? Promise.resolve();
    const mine = before.then(work, work);
    const settled = mine.catch(() => undefined);
    this.#userTurns.set(user, settled);
    void settled.then(() => {
      if (this.#userTurns.get(user) === settled) this.#userTurns.delete(user);
    });
    return mine;
  }
}

function summaryJson(s: FailedLoginSummary): Record<string, unknown> {
  return { attempts: s.attempts, users: s.users, otherUsers: s.otherUsers, reasons: s.reasons, firstAt: s.firstAt.toISOString(), lastAt: s.lastAt.toISOString() };
}
