import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "./fixtures.ts";

test("every page and route carries the security headers; page scripts carry that response's nonce", async ({ page, request }) => {
  for (const path of ["/sign-in", "/api/live-token", "/no-such-page"]) {
    const response = await request.get(path, { maxRedirects: 0 });
    const headers = response.headers();
    expect(headers["x-frame-options"], path).toBe("DENY");
    expect(headers["x-content-type-options"], path).toBe("nosniff");
    expect(headers["referrer-policy"], path).toBe("no-referrer");
    expect(headers["content-security-policy"], path).toMatch(/frame-ancestors 'none'/);
  }
  const response = await page.goto("/sign-in");
  const policy = response!.headers()["content-security-policy"]!;
  const nonce = /'nonce-([^']+)'/.exec(policy)![1]!;
  expect(policy).toMatch(/script-src 'self' 'nonce-[^']+' 'strict-dynamic'/);
  const scripts = await page.locator("script").evaluateAll((all) => all.map((s) => (s as HTMLScriptElement).nonce));
  expect(scripts.length).toBeGreaterThan(0);
  for (const n of scripts) expect(n).toBe(nonce);
  const again = await page.request.get("/sign-in");
  expect(again.headers()["content-security-policy"]).not.toContain(nonce);
  // Static assets carry the fixed headers too.
  const asset = await page.locator("script[src]").first().getAttribute("src");
  expect((await request.get(asset!)).headers()["x-content-type-options"]).toBe("nosniff");
});

test("a page framing the admin pages gets nothing: the browser refuses the frame", async ({ page, context, users }) => {
  const admin = await users.create({ role: "admin" });
  await users.signIn(context, admin);
  const refused: string[] = [];
  page.on("console", (m) => refused.push(m.text()));
  await page.goto("/sign-in");
  await page.evaluate((url) => {
    const frame = document.createElement("iframe");
    frame.src = url;
    document.body.append(frame);
  }, new URL("/admin/users", page.url()).toString());
  const frame = page.frameLocator("iframe");
  await expect.poll(() => refused.some((t) => /frame-ancestors|Refused to (display|frame)/.test(t))).toBe(true);
  await expect(frame.getByRole("heading", { name: "Users" })).toHaveCount(0);
});

test("wrong current passwords before a change are throttled and audited, one entry each", async ({ page, context, users, db }) => {
  const user = await users.create();
  await users.signIn(context, user);
  await page.goto("/account");
  const form = page.getByRole("form", { name: "Change web password" });
  const audited = () => db.auditLog.count({ where: { action: "web.password-check.failed", target: user.name } });
  for (let i = 0; i < 5; i++) {
    await form.getByLabel("Current password").fill(`wrong-${i}`);
    await form.getByLabel("New password", { exact: true }).fill("a-new-password-1");
    await form.getByLabel("New password again").fill("a-new-password-1");
    await form.getByRole("button", { name: "Change password" }).click();
    await expect.poll(audited, { timeout: 20_000 }).toBe(i + 1);
    await expect(form.locator('[data-field="currentPassword"]')).toContainText("This is not your current password.");
  }
  // The right password still works once its turn comes.
  await form.getByLabel("Current password").fill(user.webPassword);
  await form.getByLabel("New password", { exact: true }).fill("a-new-password-1");
  await form.getByLabel("New password again").fill("a-new-password-1");
  await form.getByRole("button", { name: "Change password" }).click();
  await expect(form.getByRole("status")).toContainText("Your web password is changed", { timeout: 40_000 });
});

test("hostile sign-in input gets a clear refusal every time and breaks nothing", async ({ page, db }) => {
  const inputs: [string, string][] = [
    ["", ""],
    ["x".repeat(65), "pw"],
    ["admin' OR '1'='1", "' OR 1=1 --"],
    ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"],
    ["\u0000\u0001\u202e", "\ud83d\ude00".repeat(100)],
    ["name", "p".repeat(257)],
    ["../../etc/passwd", "%00"],
    ["nobody-here", "a-wrong-password"],
  ];
  const dialogs: string[] = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  for (const [name, password] of inputs) {
    const response = await page.goto("/sign-in");
    expect(response!.status()).toBe(200);
    await page.getByLabel("User name").fill(name);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    const refusal = page.locator('.notice-error, [role="alert"]');
    await expect(refusal.first()).toBeVisible({ timeout: 30_000 });
    await expect(page).toHaveURL(/\/sign-in/);
  }
  expect(dialogs).toEqual([]);
  // A name that can be a user's is a real password check, audited; one that cannot be is refused
  // before the throttle and the audit log.
  await expect(page.getByText("The user name or password is wrong, or the account is disabled.")).toBeVisible({ timeout: 30_000 });
  await expect.poll(() => db.auditLog.count({ where: { action: "web.sign-in.failed", target: "nobody-here" } }), { timeout: 30_000 }).toBe(1);
  expect(await db.auditLog.count({ where: { action: "web.sign-in.failed", target: { in: ["admin' OR '1'='1", "../../etc/passwd", "<script>alert(1)</script>"] } } })).toBe(0);
});

test("behind a TLS proxy, a server action's redirect makes no HTTPS request of the web app to itself", async ({ browser, users }) => {
  const log = join(process.cwd(), "artifacts", "e2e-broker.log");
  const before = readFileSync(log, "utf8").length;
  const user = await users.create();
  // What a TLS proxy on this host adds (the web app believes it from loopback).
  const context = await browser.newContext({ baseURL: process.env.E2E_BASE_URL, extraHTTPHeaders: { "X-Forwarded-Proto": "https" } });
  const page = await context.newPage();
  await page.goto("/sign-in");
  await page.getByLabel("User name").fill(user.name);
  await page.getByLabel("Password").fill(user.webPassword);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/tunnel$/);
  await context.close();
  const written = readFileSync(log, "utf8").slice(before);
  expect(written).not.toMatch(/ssl|EPROTO|wrong version number|https:\/\/127\.0\.0\.1/i);
});

test("pages name an icon the app serves, so browsers do not ask for a missing favicon", async ({ page }) => {
  const missing: string[] = [];
  page.on("response", (r) => {
    if (r.status() === 404) missing.push(r.url());
  });
  await page.goto("/sign-in");
  const href = await page.locator('link[rel="icon"]').first().getAttribute("href");
  expect(href).toBeTruthy();
  expect((await page.request.get(href!)).status()).toBe(200);
  expect(missing).toEqual([]);
});

test("a request body over 1 MiB is refused with 413, declared or streamed, and the web app serves on", async ({ request }) => {
  const { connect } = await import("node:net");
  const base = new URL(process.env.E2E_BASE_URL!);
  const declared = await request.post("/sign-in", { data: Buffer.alloc((1 << 20) + 1, 0x61), headers: { "content-type": "application/octet-stream" }, maxRedirects: 0 });
  expect(declared.status()).toBe(413);

  // Chunked, no Content-Length: counted as it arrives.
  const answer = await new Promise<string>((resolve) => {
    const socket = connect({ host: base.hostname, port: Number(base.port) });
    let text = "";
    socket.on("error", () => {});
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    socket.on("close", () => resolve(text));
    socket.on("connect", async () => {
      socket.write(`POST /sign-in HTTP/1.1\r\nHost: ${base.host}\r\nContent-Type: multipart/form-data; boundary=x\r\nTransfer-Encoding: chunked\r\n\r\n`);
      const chunk = Buffer.alloc(64 << 10, 0x61);
      for (let i = 0; i < 64 && !socket.destroyed; i++) {
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        socket.write("\r\n");
        await new Promise((r) => setTimeout(r, 5));
      }
    });
  });
  expect(answer).toMatch(/^HTTP\/1\.1 413 /);
  expect((await request.get("/sign-in")).status()).toBe(200);
});

test("a live token is minted for one named POP only", async ({ context, users, request }) => {
  const admin = await users.create({ role: "admin" });
  await users.signIn(context, admin);
  expect((await context.request.get("/api/live-token")).status()).toBe(400);
  const minted = await context.request.get("/api/live-token?pop=default");
  expect(minted.status()).toBe(200);
  const { token } = (await minted.json()) as { token: string };
  expect(JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString("utf8")).pop).toBe("default");
  expect((await request.get("/api/live-token?pop=default")).status()).toBe(401);
});
