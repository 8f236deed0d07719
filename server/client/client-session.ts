import type { Socket } from "node:net";
import { LineBudget, type Logger } from "../log.ts";
import { unmapIpv4 } from "../net/ipv4.ts";
import { LineFramer } from "../protocol/line-framer.ts";
import { wire } from "../protocol/replies.ts";
import type { DtcpcOptions } from "./args.ts";
import { CertificateError, openConnection, openDataConnection, type TlsCheck } from "./connections.ts";
import { writeFileSync } from "node:fs";
import { parsePrefix6 } from "../net/prefix.ts";
import { numberLans } from "./delegation.ts";
import { LanRouter } from "./lan-router.ts";
import { planInterface, type InterfacePlan } from "./netplan.ts";
import { Relay } from "./relay.ts";
import type { TunnelReply } from "./reply.ts";
import { scriptArguments, type ScriptContext } from "./script.ts";
import { ControlSession, type SessionAction, type SessionEnd } from "./session.ts";
import { hostView, ip, runScript } from "./system.ts";
import { outerDestination, refusedDelegation, refusedLinkAddresses } from "./host-checks.ts";
import { parseIpv6 } from "../net/ipv6.ts";

export type SessionOutcome = SessionEnd & {
  /** How long the tunnel was up; null when it never came up. */
  upMs: number | null;
  /** The tunnel carried packets both ways (with a probe: the server was heard from in time). */
  settled: boolean;
};

/** How one connection's packets travel: what --transport auto tries one after another. */
export type PacketTransport = "proto41" | "udp" | "tcp";

export interface Attempt {
  packets: PacketTransport;
  /** The control connection (and a TCP data connection) runs inside TLS. */
  tls: boolean;
  /** Give up on the transport unless the server is heard through the tunnel this soon after it is up (auto's UDP rung). */
  probeMs: number | null;
  /** The transport proved to work both ways (the first time in this session). */
  onSettled?: () => void;
  /** The challenges of earlier connections, to notice a server that repeats one. */
  challenges?: ChallengeMemory;
}

/** The last challenges seen, across connections: a server should never send one twice. */
export class ChallengeMemory {
  static readonly SIZE = 1024;
  readonly #seen = new Set<string>();

  /** Records `challenge`; true when it was seen before. */
  seen(challenge: string): boolean {
    if (this.#seen.has(challenge)) return true;
    this.#seen.add(challenge);
    if (this.#seen.size > ChallengeMemory.SIZE) this.#seen.delete(this.#seen.values().next().value!);
    return false;
  }
}

/** How long a TCP connection may take: a firewall that drops (rather than refuses) is known soon. */
const CONNECT_TIMEOUT_MS = 10_000;
/** How long the data connection of IPv6 over TCP may take to attach. */
const ATTACH_TIMEOUT_MS = 15_000;

/**
 * One connection to the server, from connect to teardown: drives a ControlSession over TCP,
 * brings the tunnel up when it is granted (relay, TUN, `ip`, the up script) and takes all of it
 * down again when the session ends, whatever the reason.
 */
export class ClientSession {
  readonly #options: DtcpcOptions;
  readonly #log: Logger;
  readonly #credentials: { user: string; password: string };
  #machine: ControlSession | null = null;
  #socket: Socket | null = null;
  #relay: Relay | null = null;
  #timer: NodeJS.Timeout | null = null;
  // Bringing the tunnel up and tearing it down are asynchronous; they run in this order.
  #work: Promise<void> = Promise.resolve();
  #plan: InterfacePlan | null = null;
  #script: ScriptContext | null = null;
  #upAt: number | null = null;
  #lans: LanRouter | null = null;
  /** -o at exit: the TUN, its addresses and routes stay. */
  #keepInterface = false;
  #localIpv4 = "";
  /** The server's address as the control connection reached it: where the tunnel's packets go unless the user says otherwise. */
  #reached = "";
  #resolve: (outcome: SessionOutcome) => void = () => {};
  readonly #attempt: Attempt;
  /** Lines from the server in the debug log: a few a second, the rest counted. */
  readonly #peerLines: LineBudget;
  #settled = false;
  #probe: NodeJS.Timeout | null = null;
  /** The tunnel's interface is configured (routes included): only then can it be said to work. */
  #configured = false;
  /** The server was heard through the tunnel (possibly before the interface was configured). */
  #heardBack = false;

  constructor(options: DtcpcOptions, credentials: { user: string; password: string }, log: Logger, attempt?: Attempt) {
    this.#options = options;
    this.#credentials = credentials;
    this.#log = log;
    this.#attempt = attempt ?? firstAttempt(options);
    this.#peerLines = new LineBudget((n) => log.debug(`${n} more line(s) from the server not logged`));
  }

  /** How the server's certificate is checked; null without TLS. */
  get #tlsCheck(): TlsCheck | null {
    return this.#attempt.tls ? { pin: this.#options.tls.pin, caFile: this.#options.tls.caFile } : null;
  }

  /** Connects and runs the session; resolves once it has ended and everything is torn down. */
  run(): Promise<SessionOutcome> {
    const done = new Promise<SessionOutcome>((resolve) => (this.#resolve = resolve));
    const transport = this.#attempt.packets;
    const udp = transport === "udp" ? this.#options.udp! : null;
    try {
      this.#relay = new Relay(
        udp ? { kind: "udp", bindPort: udp.bindPort, offload: this.#options.offload } : transport === "proto41" ? { kind: "proto41" } : { kind: "stream" },
        (err) => this.#apply(this.#machine?.quit({ reason: "lost", message: `tunnel I/O failed: ${err.message}` }) ?? []),
        (source, expected, count) =>
          this.#log.warn(`dropped ${count} tunnel packet(s) from ${source}: the server is ${expected} (a server with several addresses answering from another one?)`),
      );
    } catch (err) {
      return Promise.resolve({ reason: "refused", message: (err as Error).message, upMs: null, settled: false });
    }
    this.#machine = new ControlSession({
      user: this.#credentials.user,
      password: this.#credentials.password,
      type: this.#options.type,
      transport: udp
        ? { kind: "udp", port: udp.natTraversal ? null : (udp.natPort ?? this.#relay.localPort) }
        : transport === "proto41"
          ? { kind: "proto41" }
          : { kind: "tcp" },
      acceptNat: this.#options.acceptNat,
    });
    this.#apply(this.#machine.begin());
    this.#connect();
    return done;
  }

  /** Says `quit` and tears down (leaving the TUN configured with `keepInterface`); run() then resolves with reason "quit". */
  quit(keepInterface = false): void {
    this.#keepInterface = keepInterface;
    if (this.#machine) this.#apply(this.#machine.quit());
  }

  #connect(): void {
    const { server } = this.#options;
    const tls = this.#tlsCheck;
    const port = tls ? this.#options.tls.port : this.#options.port;
    this.#log.info(`connecting to ${server} port ${port}${tls ? " (TLS)" : ""}`);
    openConnection({ host: server, name: server }, port, tls, CONNECT_TIMEOUT_MS).then(
      (socket) => this.#connected(socket),
      (err: Error) => {
        // A certificate that is not the one expected will not become it: no point retrying.
        if (err instanceof CertificateError) this.#apply(this.#machine!.quit({ reason: "refused", message: err.message }));
        else this.#apply(this.#machine!.closed(err.message));
      },
    );
  }

  #connected(socket: Socket): void {
    this.#socket = socket;
    if (this.#machine!.state === "ended") {
      socket.destroy();
      return;
    }
    const framer = new LineFramer();
    let lastError: string | null = null;
    this.#localIpv4 = unmapIpv4(socket.localAddress ?? "");
    this.#reached = unmapIpv4(socket.remoteAddress ?? "");
    this.#apply(this.#machine!.connected(this.#localIpv4));
    socket.on("data", (chunk: Buffer) => {
      for (const event of framer.push(chunk)) {
        if (event.kind === "too-long") {
          this.#apply(this.#machine!.closed("the server sent a line of more than 1024 bytes"));
        } else {
          if (this.#peerLines.take()) this.#log.debug(`< ${event.text}`);
          this.#apply(this.#machine!.line(event.text));
        }
      }
    });
    socket.on("error", (err) => (lastError = err.message));
    socket.on("close", () => this.#apply(this.#machine!.closed(lastError ?? undefined)));
  }

  #apply(actions: SessionAction[]): void {
    for (const action of actions) {
      switch (action.kind) {
        case "send":
          this.#log.debug(`> ${action.log}`);
          if (this.#socket?.writable) this.#socket.write(wire(action.line));
          break;
        case "challenge":
          if (this.#attempt.challenges?.seen(action.challenge)) {
            this.#log.warn(`the server sent challenge ${action.challenge} again: a server that repeats its challenges can look responses up in a table (a hostile server?)`);
          }
          break;
        case "timer":
          if (this.#timer !== null) clearTimeout(this.#timer);
          this.#timer = setTimeout(() => this.#apply(this.#machine!.timer()), action.ms);
          break;
        case "up": {
          const { reply } = action;
          this.#work = this.#work.then(() => this.#bringUp(reply));
          break;
        }
        case "end": {
          const { end } = action;
          this.#work = this.#work.then(() => this.#tearDown(end));
          break;
        }
      }
    }
  }

  /**
   * What the reply asks of this host, checked against it before anything is configured: where the
   * packets go, and that no address or prefix from the server takes over one of the host's own.
   * Returns the reply as it will be used (its server address the one packets go to), or why not.
   */
  async #checked(granted: TunnelReply): Promise<{ ok: true; reply: TunnelReply } | { ok: false; error: string }> {
    const o = this.#options;
    const host = await hostView(o.ifname);
    const outer = outerDestination(granted, this.#reached, o.tunnelServer, host.ipv4.map((a) => a.address));
    if (!outer.ok) return outer;
    if (outer.note !== null) this.#log.info(outer.note);
    const reply = { ...granted, serverIPv4: outer.address };
    const refused =
      reply.type === "host"
        ? refusedLinkAddresses(reply, host)
        : reply.type === "network"
          ? refusedDelegation({ address: parseIpv6(reply.prefix), length: reply.prefixLength }, host, this.#localIpv4)
          : null;
    return refused === null ? { ok: true, reply } : { ok: false, error: refused };
  }

  async #bringUp(granted: TunnelReply): Promise<void> {
    const o = this.#options;
    const udp = this.#attempt.packets === "udp" ? o.udp : null;
    try {
      const checked = await this.#checked(granted);
      if (!checked.ok) {
        this.#apply(this.#machine!.quit({ reason: "refused", message: `refusing the server's reply: ${checked.error}` }));
        return;
      }
      const { reply } = checked;
      // IPv6 over TCP: the data connection first, to the same server, inside TLS if the control is.
      let stream: Socket | null = null;
      if (reply.tcp) {
        try {
          stream = await openDataConnection({ host: this.#reached, name: o.server }, reply.tcp.port, this.#tlsCheck, reply.tcp.token, ATTACH_TIMEOUT_MS);
        } catch (err) {
          const refused = err instanceof CertificateError;
          this.#apply(this.#machine!.quit({ reason: refused ? "refused" : "lost", message: `the tunnel connection to port ${reply.tcp.port} failed: ${(err as Error).message}` }));
          return;
        }
      }
      if (this.#machine!.state !== "up") {
        stream?.destroy();
        return;
      }
      const relay = this.#relay!;
      relay.onHeard = () => this.#heard();
      const { ifname, kept, offloads } = relay.start(
        { name: o.ifname, mtu: o.mtu, offload: o.offload },
        {
          serverIpv4: reply.serverIPv4,
          serverUdpPort: reply.serverUdpPort,
          keepaliveMs: udp?.natTraversal ? udp.keepaliveMs : null,
        },
        stream,
      );
      this.#upAt = Date.now();
      this.#log.info(offloads);
      if (kept) {
        // What the last session configured may not be this one's (another address, another prefix).
        this.#log.info(`${ifname} was left configured by an earlier dtcpc -o: its addresses and routes are replaced`);
        await ip(["-6", "addr", "flush", "dev", ifname, "scope", "global"]);
        await ip(["-6", "route", "flush", "dev", ifname, "proto", "boot"]);
      }
      this.#plan = planInterface(ifname, reply, { address: o.address, routes: o.routes, routing: o.routing });
      for (const argv of this.#plan.setup) await ip(argv);
      if (o.routing === "solicit") writeFileSync(`/proc/sys/net/ipv6/conf/${ifname}/accept_ra`, "2\n");
      if (reply.type === "network" && o.delegations.length > 0) {
        const delegated = parsePrefix6(`${reply.prefix}/${reply.prefixLength}`);
        this.#lans = await LanRouter.start(numberLans(delegated, o.delegations), { advertise: o.advertise, mtu: o.mtu }, this.#log);
      }
      this.#log.info(`tunnel up: ${describe(reply, ifname, this.#attempt)}`);
      const { probeMs } = this.#attempt;
      this.#configured = true;
      // A stream that attached is known to work both ways; UDP only once the server is heard.
      if (stream !== null || this.#heardBack) this.#settle();
      else if (probeMs !== null) {
        this.#probe = setTimeout(
          () => this.#apply(this.#machine!.quit({ reason: "lost", message: `nothing came back over ${this.#attempt.packets === "udp" ? "UDP" : "the tunnel"} within ${probeMs / 1000} s` })),
          probeMs,
        );
      }
      this.#script = { server: o.server, localIpv4: this.#localIpv4, reply, address: o.address, ifname };
      await this.#runScript("up");
    } catch (err) {
      this.#apply(this.#machine!.quit({ reason: "refused", message: `cannot set up the tunnel: ${(err as Error).message}` }));
    }
  }

  #heard(): void {
    this.#heardBack = true;
    if (this.#probe !== null) clearTimeout(this.#probe);
    this.#probe = null;
    if (this.#configured) this.#settle();
  }

  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#attempt.onSettled?.();
  }

  async #tearDown(end: SessionEnd): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#probe !== null) clearTimeout(this.#probe);
    this.#socket?.destroy();
    await this.#lans?.stop().catch((err: Error) => this.#log.warn(`LAN: ${err.message}`));
    if (this.#keepInterface && this.#upAt !== null) {
      this.#relay?.keepInterface();
      this.#log.info("the tunnel interface stays configured (-o)");
    } else {
      for (const argv of this.#plan?.teardown ?? []) {
        // Closing the TUN removes what is left; a step that fails here changes nothing.
        await ip(argv).catch((err: Error) => this.#log.debug(err.message));
      }
    }
    this.#relay?.close();
    if (this.#relay && this.#upAt !== null) {
      const c = this.#relay.counters;
      this.#log.debug(`packets: ${c.toServer} to the server, ${c.fromServer} from it, ${c.foreign} from elsewhere dropped, ${c.failed} send failures`);
      this.#log.debug(`TUN offloads: ${c.superRead} super-packets read (${c.splitPackets} packets split from them), ${c.superWritten} written (${c.joinedPackets} packets joined into them)`);
      if (this.#relay.localPort !== null) this.#log.debug(`UDP receive offload: ${c.coalescedReads} reads carried several datagrams (${c.coalescedDatagrams} in all)`);
      if (c.oversized > 0) this.#log.warn(`dropped ${c.oversized} packet(s) from the server longer than the tunnel's MTU of ${this.#options.mtu}`);
    }
    this.#peerLines.flush();
    await this.#runScript("down");
    this.#resolve({ ...end, upMs: this.#upAt === null ? null : Date.now() - this.#upAt, settled: this.#settled });
  }

  async #runScript(state: "up" | "down"): Promise<void> {
    if (this.#options.script === null || this.#script === null) return;
    const failure = await runScript(this.#options.script, scriptArguments(state, this.#script));
    if (failure !== null) this.#log.warn(failure);
  }
}

/** The first (or only) way a session is tried when no ladder says otherwise. */
function firstAttempt(options: DtcpcOptions): Attempt {
  const packets: PacketTransport = options.transport === "auto" ? "udp" : options.transport === "tls" ? "tcp" : options.transport;
  return { packets, tls: options.tls.control, probeMs: null };
}

function describe(reply: TunnelReply, ifname: string, attempt: Attempt): string {
  const what =
    reply.type === "host"
      ? ` ${reply.clientIPv6} <-> ${reply.serverIPv6}`
      : reply.type === "network"
        ? ` prefix ${reply.prefix}/${reply.prefixLength}`
        : "";
  const via = reply.tcp
    ? `${attempt.tls ? "TLS" : "TCP"} to ${reply.serverIPv4} port ${reply.tcp.port}`
    : reply.serverUdpPort === null
      ? `protocol 41 to ${reply.serverIPv4}`
      : `UDP to ${reply.serverIPv4} port ${reply.serverUdpPort}`;
  return `${reply.type}${what} on ${ifname}, ${via}${attempt.tls && !reply.tcp ? " (control connection over TLS)" : ""}`;
}
