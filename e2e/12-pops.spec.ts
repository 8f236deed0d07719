// Several POPs seen from the browser: a broker of its own on a throw-away PostgreSQL server (the
// launcher, as `npm start` runs it, with the POP "default"), and a second daemon, the POP "west",
// whose live API the web app reaches over TLS. The Sessions page streams both POPs' sessions in one
// table, marks a POP whose daemon stopped, and recovers when it returns.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "@playwright/test";
import { resolvePaths } from "../server/config.ts";
import { openStorage, type Storage } from "../server/storage/storage.ts";
import { DtcpClient } from "../test/support/dtcp-client.ts";
import { startPostgres, type PostgresServer } from "../test/support/postgres.ts";
import { selfSignedCertificate, type TestCertificate } from "../test/support/tls.ts";
import { screenshot } from "./fixtures.ts";
import { freePort } from "../test/support/ports.ts";

const actor = { name: "e2e" };

/** A process whose output goes to artifacts/<log>, with a way to wait for a line of it. */
function startLogged(args: string[], env: NodeJS.ProcessEnv, log: string): { child: ChildProcess; waitFor(pattern: RegExp, ms: number): Promise<void> } {
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const file = createWriteStream(join("artifacts", log), { flags: "a" });
  let text = "";
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
    stream.pipe(file);
  }
  return {
    child,
    waitFor: async (pattern, ms) => {
      const deadline = Date.now() + ms;
      while (!pattern.test(text)) {
        if (child.exitCode !== null) throw new Error(`${args[0]} exited (${child.exitCode}); see artifacts/${log}`);
        if (Date.now() > deadline) throw new Error(`no ${pattern} from ${args[0]}; see artifacts/${log}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
}

const stopped = (child: ChildProcess) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once("exit", () => r())));

test.describe("several POPs on PostgreSQL", () => {
  test.describe.configure({ mode: "serial" });
  let postgres: PostgresServer;
  let storage: Storage;
  let certificate: TestCertificate;
  let broker: ChildProcess;
  let west: ReturnType<typeof startLogged> | null = null;
  let homeDir = "";
  let westDir = "";
  let westEnv: NodeJS.ProcessEnv = {};
  let westArgs: string[] = [];
  const ports = { web: 0, dtcp: 0, api: 0, westDtcp: 0, westApi: 0 };
  const clients: DtcpClient[] = [];
  let baseUrl = "";

  test.beforeAll(async () => {
    test.setTimeout(180_000);
    mkdirSync("artifacts", { recursive: true });
    postgres = await startPostgres();
    const databaseUrl = await postgres.database("pops_e2e");
    for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort();
    homeDir = mkdtempSync(join(tmpdir(), "dtcp-e2e-pops-"));
    chmodSync(homeDir, 0o755);
    certificate = selfSignedCertificate();
    // The web user reads the CA file; only the daemon reads the key.
    const caFile = join(homeDir, "west-ca.pem");
    copyFileSync(certificate.certFile, caFile);
    chmodSync(caFile, 0o644);
    const env = {
      ...process.env,
      BROKER_DATA_DIR: homeDir,
      DATABASE_URL: databaseUrl,
      BROKER_WEB_LISTEN: `127.0.0.1:${ports.web}`,
      BROKER_DTCP_PORT: String(ports.dtcp),
      BROKER_API_LISTEN: `127.0.0.1:${ports.api}`,
      BROKER_POP_CA_FILE: caFile,
      NEXT_TELEMETRY_DISABLED: "1",
    };
    const launcher = startLogged(["bin/broker.js", "--", "--no-dataplane", "--listen", "127.0.0.1", "-p", String(ports.dtcp)], env, "e2e-pops-broker.log");
    broker = launcher.child;
    await launcher.waitFor(/web app on /, 15 * 60_000);
    baseUrl = `http://127.0.0.1:${ports.web}`;
    for (let deadline = Date.now() + 60_000; ; ) {
      const ok = await fetch(`${baseUrl}/sign-in`).then((r) => r.status < 500, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error("the web app did not answer; see artifacts/e2e-pops-broker.log");
      await new Promise((r) => setTimeout(r, 500));
    }

    storage = await openStorage(databaseUrl, { secretKeyFile: resolvePaths(env).secretKeyFile });
    await storage.pops.add({ name: "west", publicHost: "west.example.net", apiUrl: `https://127.0.0.1:${ports.westApi}` }, actor);
    // West's data directory: copies of the two keys, nothing else.
    westDir = mkdtempSync(join(tmpdir(), "dtcp-e2e-west-"));
    const paths = resolvePaths(env);
    copyFileSync(paths.secretKeyFile, join(westDir, "secret.key"));
    copyFileSync(paths.apiKeyFile, join(westDir, "api.key"));
    westEnv = { ...env, BROKER_DATA_DIR: westDir, BROKER_SECRET_KEY_FILE: join(westDir, "secret.key"), BROKER_API_KEY_FILE: join(westDir, "api.key") };
    westArgs = ["bin/dtcps.js", "--pop", "west", "--no-dataplane", "--listen", "127.0.0.1", "-p", String(ports.westDtcp),
      "--api-listen", `127.0.0.1:${ports.westApi}`, "--api-tls-cert", certificate.certFile, "--api-tls-key", certificate.keyFile];
    west = startLogged(westArgs, westEnv, "e2e-pops-west.log");
    await west.waitFor(/listening on/, 60_000);
  });

  test.afterAll(async () => {
    for (const c of clients) c.close();
    for (const child of [west?.child, broker]) {
      if (!child) continue;
      child.kill("SIGTERM");
      await stopped(child);
    }
    await storage?.close();
    postgres?.stop();
    certificate?.cleanup();
    for (const dir of [homeDir, westDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const user = async (name: string, pop: string, role: "admin" | "user" = "user") => {
    const { user: created, tunnelPassword } = await storage.users.create({ name, role, pop }, actor, { webPassword: `pw-${name}-0123456789` });
    return { ...created, tunnelPassword };
  };
  const login = async (port: number, u: { name: string; tunnelPassword: string }) => {
    const client = await DtcpClient.connect(port);
    clients.push(client);
    expect(await client.tunnel(u.name, u.tunnelPassword, "tunnelonly")).toMatch(/^\+OK 127\.0\.0\.1 /);
    return client;
  };

  test("the Sessions page streams the live sessions of both POPs, marks a POP whose daemon stopped, and recovers when it returns", async ({ browser }) => {
    test.setTimeout(120_000);
    const admin = await user("root", "default", "admin");
    const context = await browser.newContext({ baseURL: baseUrl });
    const { token } = await storage.webSessions.start(admin, "playwright", "127.0.0.1");
    await context.addCookies([{ name: "broker_session", value: token, url: baseUrl, httpOnly: true, sameSite: "Lax" }]);
    const page = await context.newPage();

    const alice = await user("alice", "default");
    const bob = await user("bob", "west");
    await login(ports.dtcp, alice);
    await login(ports.westDtcp, bob);

    await page.goto("/admin/sessions");
    const status = (pop: string) => page.locator(`.pop-statuses li[data-pop="${pop}"] [data-live-status]`);
    await expect(status("default")).toHaveAttribute("data-status", "live");
    await expect(status("west")).toHaveAttribute("data-status", "live");
    const row = (name: string) => page.locator(`tr[data-user="${name}"]`);
    await expect(row("alice")).toHaveAttribute("data-pop", "default");
    await expect(row("bob")).toHaveAttribute("data-pop", "west");
    await expect(row("bob")).toContainText("west");
    await expect(row("bob").getByRole("button", { name: "Kick" })).toBeInViewport();
    await page.screenshot(screenshot("admin-sessions-pops"));

    // West stops: its status says so and its rows stay as last known; the default POP stays live.
    west!.child.kill("SIGKILL");
    await stopped(west!.child);
    await expect(status("west")).toHaveAttribute("data-status", "reconnecting", { timeout: 10_000 });
    await expect(status("default")).toHaveAttribute("data-status", "live");
    await expect(row("bob")).toHaveClass(/stale/);
    const carol = await user("carol", "default");
    await login(ports.dtcp, carol);
    await expect(row("carol")).toBeVisible({ timeout: 3_000 });
    await page.screenshot(screenshot("admin-sessions-pop-down"));

    // West returns (its sessions of before were lost with it); bob logs in again and shows live.
    west = startLogged(westArgs, westEnv, "e2e-pops-west.log");
    await west.waitFor(/listening on/, 60_000);
    await login(ports.westDtcp, bob);
    await expect(status("west")).toHaveAttribute("data-status", "live", { timeout: 40_000 });
    await expect(row("bob")).not.toHaveClass(/stale/);

    // A kick works on any POP.
    await row("bob").getByRole("button", { name: "Kick" }).click();
    await page.getByRole("button", { name: "Yes, kick" }).click();
    await expect(page.locator("[data-kick-result]")).toContainText("bob’s session from 127.0.0.1 ended.");
    await expect(row("bob")).toHaveCount(0);
    await context.close();
  });

  test("the POPs page shows each POP's health and live sessions; a user's portal names their own POP", async ({ browser }) => {
    const context = await browser.newContext({ baseURL: baseUrl });
    const admin = await storage.users.get("root");
    const { token } = await storage.webSessions.start(admin, "playwright", "127.0.0.1");
    await context.addCookies([{ name: "broker_session", value: token, url: baseUrl, httpOnly: true, sameSite: "Lax" }]);
    const page = await context.newPage();
    await page.goto("/admin/pops");
    const pop = (name: string) => page.locator(`tr[data-pop="${name}"]`);
    await expect(pop("default").locator('[data-field="health"]')).toContainText("up");
    await expect(pop("west").locator('[data-field="health"]')).toContainText("up");
    await expect(pop("default").locator('[data-field="live"]')).toHaveText("2");
    await page.screenshot(screenshot("admin-pops"));
    await context.close();

    const bobContext = await browser.newContext({ baseURL: baseUrl });
    const bob = await storage.users.get("bob");
    const session = await storage.webSessions.start(bob, "playwright", "127.0.0.1");
    await bobContext.addCookies([{ name: "broker_session", value: session.token, url: baseUrl, httpOnly: true, sameSite: "Lax" }]);
    const portal = await bobContext.newPage();
    const download = await portal.request.get("/tunnel/dtcpc.auth");
    expect(await download.text()).toMatch(/^west\.example\.net:bob:/);
    await bobContext.close();
  });
});
