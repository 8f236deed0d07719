import { expect, snapshot, test } from "./fixtures.ts";

const ADMIN_PAGES = ["/admin/users", "/admin/pools", "/admin/delegations", "/admin/audit"];

test("a signed-out browser is sent to sign-in, pages and downloads alike", async ({ page }) => {
  for (const path of [...ADMIN_PAGES, "/tunnel", "/account", "/"]) {
    await page.goto(path);
    await expect(page, path).toHaveURL(/\/sign-in$/);
  }
  // Whatever host the browser used, the redirect names none (Next's own request.url says localhost).
  for (const host of [undefined, "broker.example.net"]) {
    const response = await page.request.get("/tunnel/dtcpc.auth", { maxRedirects: 0, headers: host ? { Host: host } : {} });
    expect(response.status()).toBe(303);
    expect(response.headers()["location"]).toBe("/sign-in");
  }
});

test("a user cannot reach admin pages", async ({ page, context, users }) => {
  const user = await users.create();
  const other = await users.create();
  await users.signIn(context, user);
  for (const path of [...ADMIN_PAGES, `/admin/users/${other.name}`]) {
    await page.goto(path);
    await expect(page, path).toHaveURL(/\/not-allowed$/);
    await expect(page.getByRole("heading", { name: "Not allowed" })).toBeVisible();
  }
});

test("a user cannot run admin actions, even with the form of an admin page", async ({ page, context, users, db }) => {
  const admin = await users.create({ role: "admin" });
  const user = await users.create();
  await users.signIn(context, admin);
  await page.goto("/admin/users");
  // Now the same browser is the user's, with the admin's form still on screen.
  await context.clearCookies();
  await users.signIn(context, user);
  const before = await snapshot(db);
  const form = page.getByRole("form", { name: "Create user" });
  await form.getByLabel("User name").fill("intruder");
  await form.getByRole("button", { name: "Create user" }).click();
  await expect(page).toHaveURL(/\/not-allowed$/);
  expect(await snapshot(db)).toEqual(before);
});

test("downloads are only ever the signed-in user's own", async ({ page, context, users }) => {
  const user = await users.create();
  const other = await users.create();
  await users.signIn(context, user);
  for (const path of ["/tunnel/dtcpc.auth", `/tunnel/dtcpc.auth?user=${other.name}`, `/tunnel/dtcpclient.auth?name=${other.name}`]) {
    const text = await (await page.request.get(path)).text();
    expect(text, path).toBe(`127.0.0.1:${user.name}:${user.tunnelPassword}\n`);
  }
  expect((await page.request.get("/tunnel/secret.key")).status()).toBe(404);
  expect((await page.request.get(`/tunnel/${other.name}.auth`)).status()).toBe(404);
});

test("sign out everywhere ends every browser's session", async ({ browser, users }) => {
  const user = await users.create();
  const first = await browser.newContext({ baseURL: process.env.E2E_BASE_URL });
  const second = await browser.newContext({ baseURL: process.env.E2E_BASE_URL });
  try {
    await users.signIn(first, user);
    await users.signIn(second, user);
    const page = await first.newPage();
    await page.goto("/account");
    await page.getByRole("button", { name: "Sign out everywhere" }).click();
    await page.getByRole("button", { name: "Yes, sign out everywhere" }).click();
    await expect(page).toHaveURL(/\/sign-in$/);
    const other = await second.newPage();
    await other.goto("/tunnel");
    await expect(other).toHaveURL(/\/sign-in$/);
  } finally {
    await first.close();
    await second.close();
  }
});
