// Helpers shared by the data plane's tests that need root (TUN, raw sockets, network namespaces).

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";

export const run = promisify(execFile);

/**
 * The `skip` option for root-only tests: false when root. Otherwise the reason, and under CI
 * (process.env.CI set) a failing test as well, so that a CI job not running as root cannot pass
 * by skipping.
 */
export function skipUnlessRoot(reason: string): string | false {
  if (process.getuid?.() === 0) return false;
  if (process.env.CI) test(`runs as root (${reason})`, () => assert.fail(`${reason}: CI must run this file as root`));
  return reason;
}

/** Resolves once pred() holds, checking every 5 ms; rejects after ms. */
export function until(pred: () => boolean, ms = 3000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (pred()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(check, 5);
    };
    check();
  });
}

/** Network namespaces named after this process, deleted by removeAll() whatever state they are in. */
export class Namespaces {
  readonly #names: string[] = [];

  /** Creates a namespace with loopback up; returns its full name. */
  async add(short: string): Promise<string> {
    const name = `dtcp-${short}-${process.pid}`;
    await run("ip", ["netns", "add", name]);
    this.#names.push(name);
    await this.exec(name, "ip", "link", "set", "lo", "up");
    return name;
  }

  /** Runs a command inside a namespace; returns its stdout. */
  async exec(ns: string, ...argv: string[]): Promise<string> {
    const { stdout } = await run("ip", ["netns", "exec", ns, ...argv], { timeout: 20_000 });
    return stdout;
  }

  /** A veth pair between two namespaces, both ends up (created in a, one end moved to b). */
  async link(a: string, aIf: string, b: string, bIf: string): Promise<void> {
    await this.exec(a, "ip", "link", "add", aIf, "type", "veth", "peer", "name", bIf);
    await this.exec(a, "ip", "link", "set", bIf, "netns", b);
    await this.exec(a, "ip", "link", "set", aIf, "up");
    await this.exec(b, "ip", "link", "set", bIf, "up");
  }

  /**
   * A broker and a client namespace joined by a veth (b0 in the broker, c0 in the client), with
   * duplicate address detection off (addresses are usable at once); returns their full names.
   */
  async pair(brokerShort: string, clientShort: string): Promise<{ broker: string; client: string }> {
    const broker = await this.add(brokerShort);
    const client = await this.add(clientShort);
    for (const ns of [broker, client]) await this.exec(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0");
    await this.link(broker, "b0", client, "c0");
    return { broker, client };
  }

  /** Deletes every namespace made here (their veths and processes' sockets go with them). */
  async removeAll(): Promise<void> {
    await Promise.all(this.#names.splice(0).map((n) => run("ip", ["netns", "del", n]).catch(() => {})));
  }
}
