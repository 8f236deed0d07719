// dtcpc -P on the host: the LAN interfaces numbered from the delegation, IPv6 forwarding on, and
// router advertisements there so that the LAN's hosts configure themselves: Debian's radvd when it
// is installed, else advertisements sent from here every few seconds. Everything is undone by stop(),
// which also tells the LAN, with a last advertisement, that this router and its prefix are gone.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { sendIcmp6ToAllNodes } from "../dataplane/native.ts";
import type { Logger } from "../log.ts";
import { GOODBYE_LIFETIMES, RUNNING_LIFETIMES, radvdConfig, routerAdvertisement, type LanNumbering } from "./delegation.ts";
import { ip } from "./system.ts";

const FORWARDING = "/proc/sys/net/ipv6/conf/all/forwarding";
/** Unsolicited advertisements when we send them ourselves: three quickly, then one every 10 s. */
const FIRST_ADVERTISEMENTS_MS = 3_000;
const ADVERTISEMENT_MS = 10_000;

/** radvd on PATH (DTCPC_RADVD names another, or "" for none: advertisements are then sent from here). */
function findRadvd(): string | null {
  const given = process.env.DTCPC_RADVD;
  if (given !== undefined) return given === "" ? null : given;
  for (const dir of [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin"]) {
    const path = join(dir, "radvd");
    if (dir !== "" && existsSync(path)) return path;
  }
  return null;
}

export class LanRouter {
  #added: LanNumbering[] = [];
  #enabledForwarding = false;
  #radvd: ChildProcess | null = null;
  #radvdDir: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** What was advertised, and with what MTU: the goodbye at stop() withdraws it. */
  #advertised: { lans: readonly LanNumbering[]; mtu: number } | null = null;

  private constructor(private readonly log: Logger) {}

  /** Numbers the LANs and starts advertising them (unless `advertise` is off). */
  static async start(lans: readonly LanNumbering[], options: { advertise: boolean; mtu: number }, log: Logger): Promise<LanRouter> {
    const router = new LanRouter(log);
    try {
      await router.#forward();
      for (const lan of lans) {
        await ip(["-6", "addr", "add", `${lan.address}/${lan.prefixLength}`, "dev", lan.ifname, "nodad"]);
        router.#added.push(lan);
        log.info(`LAN ${lan.ifname}: ${lan.address}/${lan.prefixLength} (prefix ${lan.prefix})`);
      }
      if (options.advertise) await router.#advertise(lans, options.mtu);
    } catch (err) {
      await router.stop();
      throw err;
    }
    return router;
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    const radvd = this.#radvd;
    this.#radvd = null;
    if (radvd && radvd.exitCode === null) {
      const exited = new Promise((resolve) => radvd.once("exit", resolve));
      radvd.kill("SIGTERM");
      await exited;
    }
    if (this.#radvdDir) rmSync(this.#radvdDir, { recursive: true, force: true });
    // After radvd's own last word (router lifetime 0, the prefix as it was): the prefix withdrawn too.
    if (this.#advertised !== null) {
      const { lans, mtu } = this.#advertised;
      this.#advertised = null;
      this.#send(lans, mtu, GOODBYE_LIFETIMES);
      this.log.info(`router advertisements on ${lans.map((l) => l.ifname).join(", ")}: withdrew ${lans.map((l) => l.prefix).join(", ")} (router lifetime 0, prefix deprecated)`);
    }
    for (const lan of this.#added.splice(0).reverse()) {
      await ip(["-6", "addr", "del", `${lan.address}/${lan.prefixLength}`, "dev", lan.ifname]).catch((err: Error) => this.log.debug(err.message));
    }
    if (this.#enabledForwarding) {
      writeFileSync(FORWARDING, "0\n");
      this.#enabledForwarding = false;
    }
  }

  /** A router forwards: on for as long as the LANs are served, and back off if it was. */
  async #forward(): Promise<void> {
    if (readFileSync(FORWARDING, "utf8").trim() !== "0") return;
    writeFileSync(FORWARDING, "1\n");
    this.#enabledForwarding = true;
  }

  #send(lans: readonly LanNumbering[], mtu: number, lifetimes = RUNNING_LIFETIMES): void {
    for (const lan of lans) {
      try {
        sendIcmp6ToAllNodes(lan.ifname, routerAdvertisement(lan, mtu, lifetimes));
      } catch (err) {
        this.log.warn(`router advertisement on ${lan.ifname}: ${(err as Error).message}`);
      }
    }
  }

  async #advertise(lans: readonly LanNumbering[], mtu: number): Promise<void> {
    this.#advertised = { lans, mtu };
    const radvd = findRadvd();
    if (radvd !== null) {
      this.#radvdDir = mkdtempSync(join(tmpdir(), "dtcpc-radvd-"));
      const config = join(this.#radvdDir, "radvd.conf");
      writeFileSync(config, radvdConfig(lans));
      const child = spawn(radvd, ["-n", "-C", config, "-p", join(this.#radvdDir, "radvd.pid"), "-m", "stderr"], { stdio: ["ignore", "pipe", "pipe"] });
      this.#radvd = child;
      let output = "";
      for (const stream of [child.stdout!, child.stderr!]) stream.on("data", (d: Buffer) => (output += d.toString()));
      const failed = await new Promise<string | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), 500);
        child.once("error", (err) => resolve(err.message));
        child.once("exit", (code) => {
          clearTimeout(timer);
          resolve(`exited with ${code}: ${output.trim().split("\n").slice(-3).join("; ")}`);
        });
      });
      if (failed === null) {
        this.log.info(`router advertisements on ${lans.map((l) => l.ifname).join(", ")} by ${radvd}`);
        return;
      }
      this.#radvd = null;
      this.log.warn(`${radvd} ${failed}; sending router advertisements from dtcpc instead`);
    }
    const send = () => this.#send(lans, mtu);
    send();
    let sent = 1;
    this.#timer = setInterval(() => {
      send();
      if (++sent === 3 && this.#timer !== null) {
        clearInterval(this.#timer);
        this.#timer = setInterval(send, ADVERTISEMENT_MS);
      }
    }, FIRST_ADVERTISEMENTS_MS);
    this.log.info(`router advertisements on ${lans.map((l) => l.ifname).join(", ")} sent by dtcpc (radvd is not installed)`);
  }
}
