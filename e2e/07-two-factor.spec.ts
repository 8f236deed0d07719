import type { Page } from "@playwright/test";
import { resolvePaths } from "../server/config.ts";
import { SettingsRepository } from "../server/repositories/settings/repository.ts";
import { TwoFactorRepository } from "../server/repositories/two-factor/repository.ts";
import { base32Decode, totp } from "../server/secrets/totp.ts";
import { loadOrCreateSecretKey, TunnelPasswordBox } from "../server/secrets/tunnel-password.ts";
import { expect, screenshot, test, type TestUser } from "./fixtures.ts";

/** A code for the step `stepsAhead` from now: a code already used cannot sign in again, so tests move on a step. */
const codeOf = (secret: string, stepsAhead = 0) => totp(base32Decode(secret), Math.floor(Date.now() / 1000) + 30 * stepsAhead);

async function signInWithPassword(page: Page, user: TestUser) {
  await page.goto("/sign-in");
  await page.getByLabel("User name").fill(user.name);
  await page.getByLabel("Password").fill(user.webPassword);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function signOut(page: Page) {
  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
}

test("TOTP: enrolment with a code, sign-in with a code, a recovery code works once, then off again", async ({ page, context, users, db }) => {
  const user = await users.create();
  await users.signIn(context, user);
  await page.goto("/account");
  const panel = page.getByRole("region", { name: "Two-factor sign-in" });
  await panel.getByRole("button", { name: "Set up two-factor sign-in" }).click();
  await expect(panel.getByRole("img", { name: "QR code of the two-factor secret" })).toBeVisible();
  const secret = (await panel.locator('[data-secret="TOTP secret"]').getAttribute("data-value"))!;
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  await page.screenshot(screenshot("account-two-factor-setup"));
  // Stored sealed, not in clear.
  const row = await db.user.findUniqueOrThrow({ where: { id: user.id } });
  expect(Buffer.from(row.totpPendingSecret!).toString("latin1")).not.toContain(secret);

  await panel.getByLabel("2. Code from the app").fill("000000" === codeOf(secret) ? "111111" : "000000");
  await panel.getByRole("button", { name: "Turn on two-factor sign-in" }).click();
  await expect(panel.locator('[data-field="code"]')).toContainText("does not match");
  await panel.getByLabel("2. Code from the app").fill(codeOf(secret));
  await panel.getByRole("button", { name: "Turn on two-factor sign-in" }).click();
  const codes = panel.locator("[data-recovery-codes] code");
  await expect(codes).toHaveCount(10);
  const recovery = (await codes.allTextContents())[0]!;
  await expect(panel).toContainText("10 of 10 recovery codes left");
  await page.screenshot(screenshot("account-two-factor"));

  // The password alone no longer signs in: a second step asks for a code, and grants nothing meanwhile.
  await signOut(page);
  await signInWithPassword(page, user);
  await expect(page).toHaveURL(/\/sign-in\/code$/);
  await page.goto("/tunnel");
  await expect(page).toHaveURL(/\/sign-in$/);
  expect((await page.request.get("/api/live-token")).status()).toBe(401);
  await page.goto("/sign-in/code");
  await page.getByLabel("Code", { exact: true }).fill("123456" === codeOf(secret) ? "654321" : "123456");
  await page.getByRole("button", { name: "Continue" }).click();
  await expect(page.locator('[data-field="code"]')).toContainText("not right");
  // The code that confirmed the enrolment is used up; the next step's code is fresh.
  await page.getByLabel("Code", { exact: true }).fill(codeOf(secret, 1));
  await page.getByRole("button", { name: "Continue" }).click();
  await expect(page).toHaveURL(/\/tunnel$/);

  // A recovery code signs in once.
  await signOut(page);
  await signInWithPassword(page, user);
  await page.getByLabel("Code", { exact: true }).fill(recovery.toUpperCase());
  await page.getByRole("button", { name: "Continue" }).click();
  await expect(page).toHaveURL(/\/tunnel$/);
  await signOut(page);
  await signInWithPassword(page, user);
  await page.getByLabel("Code", { exact: true }).fill(recovery);
  await page.getByRole("button", { name: "Continue" }).click();
  await expect(page.locator('[data-field="code"]')).toContainText("not right");

  const audit = (await db.auditLog.findMany({ where: { target: user.name }, orderBy: { id: "asc" } })).map((a) => a.action);
  expect(audit).toEqual(expect.arrayContaining(["user.totp.enrol-start", "user.totp.enable", "web.sign-in.password-ok", "user.totp.recovery-code-used", "web.sign-in.failed"]));

  // Off again, proven with the password.
  await users.signIn(context, user);
  await page.goto("/account");
  await expect(panel).toContainText("9 of 10 recovery codes left");
  await panel.getByLabel("Current code or password").fill("wrong password here");
  await panel.getByRole("button", { name: "Turn off two-factor sign-in" }).click();
  await panel.getByRole("button", { name: "Yes, turn it off" }).click();
  await expect(panel.locator('[data-field="proof"]')).toContainText("neither");
  await panel.getByLabel("Current code or password").fill(user.webPassword);
  await panel.getByRole("button", { name: "Turn off two-factor sign-in" }).click();
  await panel.getByRole("button", { name: "Yes, turn it off" }).click();
  await expect(panel.getByRole("button", { name: "Set up two-factor sign-in" })).toBeVisible();
  expect(await db.recoveryCode.count({ where: { userId: user.id } })).toBe(0);
});

test("TOTP required for administrators: refused until the acting one has it, then others must enrol first", async ({ page, context, browser, users, db }) => {
  const settings = new SettingsRepository(db);
  const twoFactor = new TwoFactorRepository(db, new TunnelPasswordBox(loadOrCreateSecretKey(resolvePaths().secretKeyFile)));
  const admin = await users.create({ role: "admin" });
  const other = await users.create({ role: "admin" });
  await users.signIn(context, admin);
  try {
    await page.goto("/admin/settings");
    await page.getByLabel("Require two-factor sign-in for administrators").check();
    await page.getByRole("button", { name: "Save settings" }).click();
    await expect(page.locator('[data-field="requireAdminTotp"]')).toContainText("for yourself first");
    expect(await settings.get("requireAdminTotp")).toBe(false);

    const secret = await twoFactor.begin(admin.id, { name: "e2e" });
    await twoFactor.confirm(admin.id, codeOf(secret), { name: "e2e" });
    await page.goto("/admin/settings");
    await page.getByLabel("Require two-factor sign-in for administrators").check();
    await page.getByRole("button", { name: "Save settings" }).click();
    await expect(page.getByRole("status")).toContainText("Settings saved");
    expect(await settings.get("requireAdminTotp")).toBe(true);

    // Another administrator without TOTP is sent to enrol before anything else.
    const second = await browser.newContext({ baseURL: process.env.E2E_BASE_URL });
    try {
      await users.signIn(second, other);
      const otherPage = await second.newPage();
      for (const path of ["/admin/users", "/tunnel", "/account"]) {
        await otherPage.goto(path);
        await expect(otherPage, path).toHaveURL(/\/enrol$/);
      }
      expect((await otherPage.request.get("/api/live-token")).status()).toBe(403);
      await otherPage.getByRole("button", { name: "Set up two-factor sign-in" }).click();
      const otherSecret = (await otherPage.locator('[data-secret="TOTP secret"]').getAttribute("data-value"))!;
      await otherPage.getByLabel("2. Code from the app").fill(codeOf(otherSecret));
      await otherPage.getByRole("button", { name: "Turn on two-factor sign-in" }).click();
      await expect(otherPage.locator("[data-recovery-codes] code")).toHaveCount(10);
      await otherPage.getByRole("link", { name: "Continue" }).click();
      await expect(otherPage).toHaveURL(/\/admin\/users$/);
    } finally {
      await second.close();
    }
    const entry = await db.auditLog.findFirstOrThrow({ where: { action: "setting.set", target: "requireAdminTotp" }, orderBy: { id: "desc" } });
    expect(entry.actor).toBe(`web:${admin.name}`);
  } finally {
    // Other specs make administrators without TOTP.
    await settings.set("requireAdminTotp", false, { name: "e2e" });
  }
});
