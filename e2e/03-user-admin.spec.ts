import { expect, screenshot, snapshot, test } from "./fixtures.ts";

test.beforeEach(async ({ context, users }) => {
  await users.signIn(context, await users.create({ role: "admin" }));
});

test("an administrator disables, re-enables, resets, rotates and finally removes a user", async ({ page, browser, users, db }) => {
  const user = await users.create();
  await page.goto(`/admin/users?q=${user.name}`);
  await expect(page.getByRole("row")).toHaveCount(2);
  await page.getByRole("link", { name: user.name }).click();
  await expect(page.getByRole("heading", { name: user.name, level: 1 })).toBeVisible();

  await page.getByRole("button", { name: "Disable" }).click();
  await expect(page.getByRole("status").first()).toContainText("is disabled");
  expect((await db.user.findUniqueOrThrow({ where: { name: user.name } })).disabled).toBe(true);
  await page.getByRole("button", { name: "Enable" }).click();
  await expect(page.getByRole("status").first()).toContainText("is enabled");

  const form = page.getByRole("form", { name: "Reset web password" });
  await form.getByRole("button", { name: "Set web password" }).click();
  const webPassword = await page.locator('[data-secret="Web password"]').textContent();
  expect(webPassword).toHaveLength(20);
  // The user signs in with it, and not with the old one.
  const asUser = await browser.newContext({ baseURL: process.env.E2E_BASE_URL });
  const signIn = await asUser.newPage();
  for (const [password, lands] of [[user.webPassword, /\/sign-in/], [webPassword!, /\/tunnel$/]] as const) {
    await signIn.goto("/sign-in");
    await signIn.getByLabel("User name").fill(user.name);
    await signIn.getByLabel("Password").fill(password);
    await signIn.getByRole("button", { name: "Sign in" }).click();
    if (password === user.webPassword) await expect(signIn.getByText("The user name or password is wrong, or the account is disabled.")).toBeVisible({ timeout: 30_000 });
    await expect(signIn).toHaveURL(lands, { timeout: 30_000 });
  }
  await asUser.close();

  await page.getByRole("button", { name: "Rotate DTCP password" }).click();
  await page.getByRole("button", { name: "Yes, rotate" }).click();
  await expect(page.locator('[data-secret="DTCP password"]')).toHaveText(/^[A-Za-z0-9]{20}$/);
  await page.screenshot(screenshot("admin-user"));

  // Removing asks first; cancelling leaves everything as it was.
  await page.getByRole("button", { name: "Remove user" }).click();
  await page.getByRole("button", { name: "Cancel" }).click();
  expect(await db.user.count({ where: { name: user.name } })).toBe(1);
  await page.getByRole("button", { name: "Remove user" }).click();
  await page.getByRole("button", { name: "Yes, remove" }).click();
  await expect(page).toHaveURL(/\/admin\/users$/);
  expect(await db.user.count({ where: { name: user.name } })).toBe(0);

  const actions = (await db.auditLog.findMany({ where: { target: user.name }, orderBy: { id: "asc" } })).map((a) => a.action);
  expect(actions).toEqual(["user.create", "user.disable", "user.enable", "user.web-password.set", "web.sign-in.failed", "web.sign-in", "user.tunnel-password.rotate", "user.remove"]);
});

test("an administrator changes a user's tunnel settings; no transport at all is refused next to its field and changes nothing", async ({ page, users, db }) => {
  const user = await users.create({ mtu: 1280 });
  await page.goto(`/admin/users/${user.name}`);
  const form = page.getByRole("form", { name: "Tunnel settings" });
  await expect(form.getByLabel("MTU")).toHaveValue("1280");

  const before = await snapshot(db);
  await form.getByLabel("MTU").fill("1400");
  await form.getByRole("checkbox", { name: "proto41" }).uncheck();
  await form.getByRole("checkbox", { name: "udp" }).uncheck();
  await form.getByRole("checkbox", { name: "tcp" }).uncheck();
  await form.getByRole("button", { name: "Save settings" }).click();
  await expect(form.locator('[data-field="allowedTransports"]')).toContainText("Allow at least one transport.");
  await expect(form.getByLabel("MTU"), "what was typed stays").toHaveValue("1400");
  expect(await snapshot(db)).toEqual(before);

  await form.getByRole("checkbox", { name: "udp" }).check();
  await form.getByRole("checkbox", { name: "network" }).uncheck();
  await form.getByLabel("E-mail (optional)").fill("tunnel@example.org");
  await form.getByRole("button", { name: "Save settings" }).click();
  await expect(form.getByRole("status")).toContainText("Saved");
  const facts = page.locator("dl.facts");
  await expect(facts).toContainText("1400");
  await expect(facts).toContainText("tunnelonly, host");
  const saved = await db.user.findUniqueOrThrow({ where: { name: user.name } });
  expect([saved.mtu, saved.allowedTypes, saved.allowedTransports, saved.email]).toEqual([1400, "tunnelonly,host", "udp", "tunnel@example.org"]);
  const entry = await db.auditLog.findFirstOrThrow({ where: { target: user.name, action: "user.update" } });
  expect(JSON.parse(entry.before!).mtu).toBe(1280);
  expect(JSON.parse(entry.after!).allowedTransports).toEqual(["udp"]);
});

test("releasing a delegation asks first", async ({ page, users, pools, db }) => {
  const pool = await pools.create();
  const user = await users.create();
  const delegation = await pools.delegate(user.name, pool.cidr);
  await page.goto("/admin/delegations");
  const row = page.getByRole("row").filter({ hasText: delegation.prefix });
  await row.getByRole("button", { name: "Release" }).click();
  const before = await snapshot(db);
  await row.getByRole("button", { name: "Cancel" }).click();
  expect(await snapshot(db)).toEqual(before);
  await row.getByRole("button", { name: "Release" }).click();
  await row.getByRole("button", { name: "Yes, release" }).click();
  await expect(page.getByRole("cell", { name: delegation.prefix })).toHaveCount(0);
  expect(await db.delegation.count({ where: { prefix: delegation.prefix } })).toBe(0);
});

test("the main pages read on a phone", async ({ page, users, pools }) => {
  const pool = await pools.create();
  const user = await users.create();
  await pools.delegate(user.name, pool.cidr);
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [path, name] of [["/admin/users", "phone-admin-users"], ["/admin/pools", "phone-admin-pools"], ["/admin/audit", "phone-admin-audit"]] as const) {
    await page.goto(path);
    // Nothing but the tables may be wider than the screen; they scroll inside their frame.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, path).toBeLessThanOrEqual(0);
    await page.screenshot(screenshot(name));
  }
});
