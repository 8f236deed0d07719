import type { Page } from "@playwright/test";
import { expect, snapshot, test } from "./fixtures.ts";

async function fieldError(page: Page, field: string) {
  const error = page.locator(`[data-field="${field}"]`);
  await expect(error).toBeVisible();
  return error;
}

test.beforeEach(async ({ context, users }) => {
  await users.signIn(context, await users.create({ role: "admin" }));
});

test("an invalid CIDR is refused next to the prefix field", async ({ page, db }) => {
  await page.goto("/admin/pools");
  const before = await snapshot(db);
  for (const bad of ["2001:db8::/129", "not-a-prefix", "10.0.0.0/8"]) {
    await page.getByLabel("Prefix", { exact: true }).fill(bad);
    await page.getByRole("button", { name: "Add pool" }).click();
    await expect(await fieldError(page, "cidr"), bad).not.toBeEmpty();
  }
  expect(await snapshot(db)).toEqual(before);
});

test("an overlapping pool is refused", async ({ page, db, pools }) => {
  const existing = await pools.create({ cidr: "fdee:1::/32", prefixLength: 48 });
  await page.goto("/admin/pools");
  const before = await snapshot(db);
  await page.getByLabel("Prefix", { exact: true }).fill("fdee:1:2::/48");
  await page.getByRole("button", { name: "Add pool" }).click();
  await expect(await fieldError(page, "cidr")).toContainText(`overlaps the existing pool ${existing.cidr}`);
  expect(await snapshot(db)).toEqual(before);
});

test("a duplicate user name is refused", async ({ page, db, users }) => {
  const taken = await users.create();
  await page.goto("/admin/users");
  const before = await snapshot(db);
  const form = page.getByRole("form", { name: "Create user" });
  await form.getByLabel("User name").fill(taken.name);
  await form.getByRole("button", { name: "Create user" }).click();
  await expect(await fieldError(page, "name")).toContainText("already exists");
  // What was typed stays.
  await expect(form.getByLabel("User name")).toHaveValue(taken.name);
  expect(await snapshot(db)).toEqual(before);
});

test("creating a user with several mistakes shows every one of them at once, next to its field", async ({ page, db }) => {
  await page.goto("/admin/users");
  const before = await snapshot(db);
  const form = page.getByRole("form", { name: "Create user" });
  await form.getByLabel("User name").fill("Not Valid!");
  await form.getByLabel("Web password (optional)").fill("short");
  for (const transport of ["proto41", "udp", "tcp"]) await form.getByRole("group", { name: "Transports" }).getByLabel(transport).uncheck();
  await form.getByRole("button", { name: "Create user" }).click();
  await expect(await fieldError(page, "name")).toHaveText(/^User names are 1–32 characters: .*\.$/);
  await expect(await fieldError(page, "webPassword")).toHaveText("A web password has at least 12 characters.");
  await expect(await fieldError(page, "allowedTransports")).toHaveText("Allow at least one transport.");
  await expect(form.getByRole("status")).toHaveText("Please correct the fields marked below.");
  expect(await snapshot(db)).toEqual(before);
});

test("a delegation from an exhausted pool is refused", async ({ page, db, users, pools }) => {
  const pool = await pools.create({ cidr: "fdee:2::/63", prefixLength: 64 });
  const holders = [await users.create(), await users.create()];
  for (const holder of holders) await pools.delegate(holder.name, pool.cidr);
  const user = await users.create();
  await page.goto("/admin/delegations");
  const before = await snapshot(db);
  await page.getByLabel("User", { exact: true }).selectOption(user.name);
  await page.getByLabel("Pool").selectOption(pool.cidr);
  await page.getByRole("button", { name: "Delegate the next free prefix" }).click();
  await expect(await fieldError(page, "pool")).toContainText("full");
  expect(await snapshot(db)).toEqual(before);
});
