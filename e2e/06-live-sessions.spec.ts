import WebSocket from "ws";
import type { LiveServerMessage } from "../server/api/live.ts";
import { loadOrCreateApiKey, mintToken, nowSeconds } from "../server/api/token.ts";
import { resolvePaths } from "../server/config.ts";
import { DtcpClient } from "../test/support/dtcp-client.ts";
import { expect, screenshot, test, type TestUser } from "./fixtures.ts";

const dtcpPort = () => Number(process.env.E2E_DTCP_PORT);
const liveUrl = () => `${process.env.E2E_BASE_URL!.replace(/^http/, "ws")}/api/live`;

async function login(user: TestUser, type = "tunnelonly"): Promise<DtcpClient> {
  const client = await DtcpClient.connect(dtcpPort());
  const reply = await client.tunnel(user.name, user.tunnelPassword, type);
  expect(reply).toMatch(/^\+OK 127\.0\.0\.1 /);
  return client;
}

/** Opens the relayed WebSocket with these subprotocols: the first message, or the HTTP status of a refusal. */
function openLive(protocols: string[] | undefined): Promise<{ status: number; first?: LiveServerMessage; ws?: WebSocket }> {
  const ws = new WebSocket(liveUrl(), protocols);
  return new Promise((resolve, reject) => {
    ws.once("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once("message", (data) => resolve({ status: 101, first: JSON.parse(data.toString()) as LiveServerMessage, ws }));
    ws.once("error", reject);
  });
}

function nextMessage(ws: WebSocket, match: (m: LiveServerMessage) => boolean): Promise<LiveServerMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no such message within 15 s")), 15_000);
    const listener = (data: WebSocket.RawData) => {
      const message = JSON.parse(data.toString()) as LiveServerMessage;
      if (!match(message)) return;
      clearTimeout(timer);
      ws.off("message", listener);
      resolve(message);
    };
    ws.on("message", listener);
  });
}

// Without a reload: the rows come over the live feed. How fast is bench's, not a test's.
test("the administrator's live page shows a login as it happens, with the address the daemon saw, and its end", async ({ page, context, users }) => {
  await users.signIn(context, await users.create({ role: "admin" }));
  const user = await users.create();
  await page.goto("/admin/users");
  await page.getByRole("link", { name: "Sessions" }).click();
  await expect(page.getByRole("heading", { name: "Live sessions", level: 1 })).toBeVisible();
  await expect(page.locator("[data-live-status]")).toHaveAttribute("data-status", "live");

  const client = await login(user);
  try {
    const row = page.locator(`tr[data-user="${user.name}"]`);
    await expect(row).toBeVisible({ timeout: 15_000 });
    await expect(row.locator('[data-field="address"]')).toHaveText("127.0.0.1");
    await expect(row).toContainText("tunnelonly");
    await expect(row).toContainText(/just now|\d+ s ago/);
    await page.screenshot(screenshot("admin-sessions"));

    expect(await client.command("quit")).toBe("+OK see you soon.");
    await expect(row).toHaveCount(0, { timeout: 15_000 });
  } finally {
    client.close();
  }
});

test("a kick from the live page, after a confirm step, ends the session and the client gets -ERR", async ({ page, context, users }) => {
  await users.signIn(context, await users.create({ role: "admin" }));
  const user = await users.create();
  await page.goto("/admin/sessions");
  const client = await login(user);
  try {
    const row = page.locator(`tr[data-user="${user.name}"]`);
    await expect(row).toBeVisible({ timeout: 15_000 });
    const confirm = page.getByRole("group", { name: "Confirm" });
    await row.getByRole("button", { name: "Kick" }).click();
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await expect(row).toBeVisible();
    await expect(confirm).toHaveCount(0);
    await page.setViewportSize({ width: 1280, height: 800 });
    await row.getByRole("button", { name: "Kick" }).click();
    // The whole question is on screen at 1280 px, not clipped by the table.
    await expect(confirm).toContainText(`End ${user.name}’s session from 127.0.0.1?`);
    const box = (await confirm.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(1280);
    await page.screenshot(screenshot("admin-sessions-kick-confirm-1280"));
    await confirm.getByRole("button", { name: "Yes, kick" }).click();
    expect(await client.readLine()).toBe("-ERR session ended by an administrator");
    await client.waitClosed();
    await expect(row).toHaveCount(0, { timeout: 15_000 });
    await expect(page.locator("[data-kick-result]")).toHaveText(`${user.name}’s session from 127.0.0.1 ended.`);
  } finally {
    client.close();
  }
});

test("a user's portal shows their own tunnel live, and only theirs", async ({ page, context, users }) => {
  const user = await users.create();
  const other = await users.create();
  await users.signIn(context, user);
  await page.goto("/tunnel");
  const live = page.locator("[data-live-connection]");
  await expect(live.locator("[data-live-status]")).toHaveAttribute("data-status", "live");
  await expect(live).toContainText("Not connected now.");

  const theirs = await login(other);
  const mine = await login(user);
  try {
    await expect(live.locator('[data-connected="yes"]')).toHaveCount(1, { timeout: 2_000 });
    await expect(live.locator('[data-field="address"]')).toHaveText("127.0.0.1");
    await page.screenshot(screenshot("portal-live"));
    await mine.command("quit");
    await expect(live).toContainText("Not connected now.", { timeout: 2_000 });
    await expect(live.locator('[data-connected="yes"]')).toHaveCount(0);
  } finally {
    theirs.close();
    mine.close();
  }
});

test("the live WebSocket: tokens from the token route only for the signed-in, users see only their own sessions and cannot kick", async ({ page, context, users }) => {
  // Signed out: no token.
  const signedOut = await page.request.get("/api/live-token?pop=default");
  expect(signedOut.status()).toBe(401);
  expect(signedOut.headers()["cache-control"]).toBe("no-store");

  const user = await users.create();
  const other = await users.create();
  await users.signIn(context, user);
  const response = await page.request.get("/api/live-token?pop=default");
  expect(response.status()).toBe(200);
  expect(response.headers()["cache-control"]).toBe("no-store");
  const { token } = (await response.json()) as { token: string };
  const claims = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()) as { sub: string; role: string; pop: string; exp: number };
  expect(claims.sub).toBe(user.name);
  expect(claims.pop).toBe("default");
  expect(claims.role).toBe("user");
  expect(claims.exp - nowSeconds()).toBeLessThanOrEqual(60);

  const theirs = await login(other);
  const mine = await login(user);
  const opened: WebSocket[] = [];
  try {
    const viewer = await openLive(["dtcp-live", token]);
    expect(viewer.status).toBe(101);
    opened.push(viewer.ws!);
    const first = viewer.first!;
    expect(first.type).toBe("snapshot");
    const rows = first.type === "snapshot" ? first.rows : [];
    expect(rows.map((r) => r.user)).toEqual([user.name]);

    viewer.ws!.send(JSON.stringify({ type: "kick", sessionId: rows[0]!.sessionId }));
    expect(await nextMessage(viewer.ws!, (m) => m.type === "error")).toEqual({ type: "error", message: "forbidden" });
    // Not kicked: its session still answers (a kick would have reached it before this reply).
    expect(await mine.command("ping")).toBe("+OK hi, happy to hear from you");

    // Refused without a token, with a forged or expired one, or with the token in the URL.
    const key = loadOrCreateApiKey(resolvePaths().apiKeyFile);
    expect((await openLive(undefined)).status).toBe(401);
    expect((await openLive(["dtcp-live", "forged.token"])).status).toBe(401);
    expect((await openLive(["dtcp-live", mintToken(Buffer.alloc(32, 1), { sub: user.name, role: "admin", sid: "0".repeat(64), pop: "default" })])).status).toBe(401);
    expect((await openLive(["dtcp-live", mintToken(key, { sub: user.name, role: "user", sid: "0".repeat(64), pop: "default" }, 60, nowSeconds() - 600)])).status).toBe(401);
    expect((await openLive(["dtcp-live", mintToken(key, { sub: user.name, role: "user", sid: "0".repeat(64), pop: "default" })])).status, "a sign-in that has ended").toBe(401);
    const administrator = await users.create({ role: "admin" });
    const admin = await openLive(["dtcp-live", mintToken(key, { sub: administrator.name, role: "admin", sid: await users.webSession(administrator), pop: "default" })]);
    expect(admin.status).toBe(101);
    opened.push(admin.ws!);
    const all = admin.first!.type === "snapshot" ? admin.first!.rows.map((r) => r.user) : [];
    expect(all).toEqual(expect.arrayContaining([user.name, other.name]));
  } finally {
    for (const ws of opened) ws.terminate();
    theirs.close();
    mine.close();
  }
});

test("the live page reconnects after the connection drops, with a fresh token, and says so meanwhile", async ({ page, context, users }) => {
  await users.signIn(context, await users.create({ role: "admin" }));
  const pageSides: { close(options?: { code?: number; reason?: string }): Promise<void> }[] = [];
  await page.routeWebSocket(/\/api\/live(\?|$)/, (ws) => {
    ws.connectToServer();
    pageSides.push(ws);
  });
  let tokens = 0;
  page.on("request", (request) => {
    if (request.url().includes("/api/live-token?")) tokens++;
  });
  await page.goto("/admin/sessions");
  const status = page.locator("[data-live-status]");
  await expect(status).toHaveAttribute("data-status", "live");
  expect(tokens).toBe(1);

  await pageSides[0]!.close({ code: 1011, reason: "test drop" });
  await expect(status).toHaveAttribute("data-status", "reconnecting");
  await expect(status).toContainText(/Reconnecting in \d+ s/);
  await expect(status).toHaveAttribute("data-status", "live", { timeout: 5_000 });
  expect(pageSides).toHaveLength(2);
  expect(tokens).toBe(2);
});
