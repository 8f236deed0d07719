// Starts the broker the way `npm start` does (bin/broker.js: migrations, build if needed, dtcps
// and the web app; as root the web app drops to the unprivileged user), on free ports over a
// temporary data directory, and captures the one-time set-up link from its output.
import { spawn } from "node:child_process";
import { chmodSync, createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FullConfig } from "@playwright/test";
import { freePort } from "../test/support/ports.ts";

async function waitForHttp(url: string, deadline: number, exited: () => boolean): Promise<void> {
  for (;;) {
    if (exited()) throw new Error("the broker exited during start-up; see artifacts/e2e-broker.log");
    try {
      const response = await fetch(url, { redirect: "manual" });
      if (response.status < 500) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer in time`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export default async function globalSetup(_config: FullConfig): Promise<() => Promise<void>> {
  const dataDir = mkdtempSync(join(tmpdir(), "dtcp-e2e-"));
  // Traversable for the unprivileged web user; the launcher gives it the directory itself.
  chmodSync(dataDir, 0o755);
  const [webPort, dtcpPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const env = {
    ...process.env,
    BROKER_DATA_DIR: dataDir,
    DATABASE_URL: `file:${join(dataDir, "broker.db")}`,
    BROKER_WEB_LISTEN: `127.0.0.1:${webPort}`,
    BROKER_DTCP_PORT: String(dtcpPort),
    BROKER_API_LISTEN: `127.0.0.1:${apiPort}`,
    NEXT_TELEMETRY_DISABLED: "1",
  };
  // artifacts/ is git-ignored: a clean clone does not have it yet.
  mkdirSync(join(process.cwd(), "artifacts"), { recursive: true });
  const log = createWriteStream(join(process.cwd(), "artifacts", "e2e-broker.log"));
  const broker = spawn(process.execPath, ["bin/broker.js", "--", "--no-dataplane", "--listen", "127.0.0.1", "-p", String(dtcpPort)], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let exited = false;
  broker.once("exit", () => (exited = true));
  const setupUrl = new Promise<string>((resolve) => {
    let text = "";
    broker.stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const match = /(http:\/\/\S+\/setup\/[A-Za-z0-9_-]+)/.exec(text);
      if (match?.[1]) resolve(match[1]);
    });
  });
  broker.stdout.pipe(log);
  broker.stderr.pipe(log);

  const baseUrl = `http://127.0.0.1:${webPort}`;
  // A first start may build the web app: minutes on a small machine.
  await waitForHttp(`${baseUrl}/sign-in`, Date.now() + 15 * 60_000, () => exited);
  const link = await Promise.race([setupUrl, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no set-up link was printed")), 5_000))]);

  process.env.E2E_BASE_URL = baseUrl;
  process.env.E2E_SETUP_URL = link;
  process.env.E2E_DATA_DIR = dataDir;
  process.env.E2E_DTCP_PORT = String(dtcpPort);
  process.env.E2E_API_PORT = String(apiPort);
  process.env.DATABASE_URL = env.DATABASE_URL;
  process.env.BROKER_DATA_DIR = dataDir;

  return async () => {
    if (!exited) {
      broker.kill("SIGTERM");
      await new Promise((resolve) => broker.once("exit", resolve));
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
}
