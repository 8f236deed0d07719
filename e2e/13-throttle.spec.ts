// Every web password check is throttled: three free failures per user name and per address, then
// 1 s, 2 s, 4 s, … before the next check. Each form is tried from addresses of its own (the web app
// believes X-Forwarded-For from loopback, as from a proxy on this host), and only lower bounds are
// asserted: a slow machine adds time, it never removes the delay. The throttle spaces a check from
// the previous one's turn, which came after that attempt's click: so "answer − previous click" is
// at least the delay, however long the steps between the two attempts took.
import type { Browser, Page } from "@playwright/test";
import { resolvePaths } from "../server/config.ts";
import { TwoFactorRepository } from "../server/repositories/two-factor/repository.ts";
import { SECOND_FACTOR_MAX_FAILURES } from "../server/repositories/web-sessions/repository.ts";
import { base32Decode, totp } from "../server/secrets/totp.ts";
import { loadOrCreateSecretKey, TunnelPasswordBox } from "../server/secrets/tunnel-password.ts";
import { expect, test, type TestUser } from "./fixtures.ts";

/**
 * The fifth and sixth checks wait 2 s and 4 s. Those are asserted, not the fourth's 1 s: the steps
 * between two attempts (a page load) take about a second themselves, and must not pass for a delay.
 */
const ATTEMPTS = 6;
const DELAYS_MS = [[4, 2_000], [5, 4_000]] as const;
let block = 0;
/** Addresses no other test uses. */
const addresses = () => {
  block++;
  return Array.from({ length: ATTEMPTS }, (_, i) => `198.51.${100 + block}.${i + 1}`);
};

function expectDelays(attempts: Attempt[]): void {
  for (const [i, ms] of DELAYS_MS) expect(spacing(attempts, i), said(attempts)).toBeGreaterThanOrEqual(ms);
}

async function pageFrom(browser: Browser, address: string): Promise<Page> {
  const context = await browser.newContext({ baseURL: process.env.E2E_BASE_URL, extraHTTPHeaders: { "X-Forwarded-For": address } });
  return context.newPage();
}

interface Attempt {
  clicked: number;
  answered: number;
}

/** The spacing of attempt `i` from the one before: its answer less the previous click. */
const spacing = (attempts: Attempt[], i: number) => attempts[i]!.answered - attempts[i - 1]!.clicked;
const said = (attempts: Attempt[]) => `spacings ${attempts.slice(1).map((_, i) => spacing(attempts, i + 1)).join(", ")} ms`;

/** One wrong sign-in from `address`. */
async function wrongSignIn(page: Page, address: string, name: string): Promise<Attempt> {
  await page.setExtraHTTPHeaders({ "X-Forwarded-For": address });
  await page.goto("/sign-in");
  await page.getByLabel("User name").fill(name);
  await page.getByLabel("Password").fill("not-the-password");
  const clicked = Date.now();
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByText("The user name or password is wrong, or the account is disabled.")).toBeVisible({ timeout: 60_000 });
  return { clicked, answered: Date.now() };
}

test("sign-in: wrong passwords for one name wait longer and longer, from whatever address", async ({ page, users }) => {
  const user = await users.create();
  const attempts: Attempt[] = [];
  for (const address of addresses()) attempts.push(await wrongSignIn(page, address, user.name));
  expectDelays(attempts);
});

test("sign-in: wrong passwords from one address wait longer and longer, whatever the name", async ({ page }) => {
  const [address] = addresses();
  const attempts: Attempt[] = [];
  for (let i = 0; i < ATTEMPTS; i++) attempts.push(await wrongSignIn(page, address!, `throttle-${i}-${Date.now()}`));
  expectDelays(attempts);
});

test("the account page's current-password check: wrong ones wait longer and longer", async ({ browser, users }) => {
  const user = await users.create();
  const [address] = addresses();
  const page = await pageFrom(browser, address!);
  await users.signIn(page.context(), user);
  await page.goto("/account");
  const form = page.getByRole("form", { name: "Change web password" });
  const attempts: Attempt[] = [];
  for (let i = 0; i < ATTEMPTS; i++) {
    await form.getByLabel("Current password").fill(`wrong-${i}`);
    await form.getByLabel("New password", { exact: true }).fill("a-new-password-1");
    await form.getByLabel("New password again").fill("a-new-password-1");
    const clicked = Date.now();
    await form.getByRole("button", { name: "Change password" }).click();
    await expect(form.locator('[data-field="currentPassword"]')).toContainText("This is not your current password.", { timeout: 60_000 });
    attempts.push({ clicked, answered: Date.now() });
    // The next answer is told apart from this one by clearing it.
    await page.goto("/account");
  }
  expectDelays(attempts);
  await page.context().close();
});

test("the two-factor step: wrong codes wait longer and longer", async ({ browser, users, db }) => {
  const user: TestUser = await users.create();
  const twoFactor = new TwoFactorRepository(db, new TunnelPasswordBox(loadOrCreateSecretKey(resolvePaths().secretKeyFile)));
  const secret = await twoFactor.begin(user.id, { name: "test" });
  await twoFactor.confirm(user.id, totp(base32Decode(secret), Math.floor(Date.now() / 1000)), { name: "test" });
  const right = new Set([-1, 0, 1].map((step) => totp(base32Decode(secret), Math.floor(Date.now() / 1000) + 30 * step)));
  const wrong = ["111111", "222222", "333333", "444444", "555555", "666666", "777777", "888888"].filter((code) => !right.has(code));
  const [address] = addresses();
  const page = await pageFrom(browser, address!);
  await page.goto("/sign-in");
  await page.getByLabel("User name").fill(user.name);
  await page.getByLabel("Password").fill(user.webPassword);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/sign-in\/code$/);
  // The fifth wrong code also ends the step (SECOND_FACTOR_MAX_FAILURES): its answer is the way back to the sign-in.
  const attempts: Attempt[] = [];
  for (let i = 0; i < SECOND_FACTOR_MAX_FAILURES; i++) {
    await page.goto("/sign-in/code");
    await page.getByLabel("Code", { exact: true }).fill(wrong[i]!);
    const clicked = Date.now();
    await page.getByRole("button", { name: "Continue" }).click();
    if (i < SECOND_FACTOR_MAX_FAILURES - 1) await expect(page.locator('[data-field="code"]')).toContainText("not right", { timeout: 60_000 });
    else await expect(page).toHaveURL(/\/sign-in\?.*expired=1/, { timeout: 60_000 });
    attempts.push({ clicked, answered: Date.now() });
  }
  // The password check that came first was a success: only the codes count, and the fifth waits 2 s.
  expect(spacing(attempts, 4), said(attempts)).toBeGreaterThanOrEqual(DELAYS_MS[0][1]);
  await page.context().close();
});

test("guesses at a set-up link wait longer and longer", async ({ page }) => {
  const [address] = addresses();
  await page.setExtraHTTPHeaders({ "X-Forwarded-For": address! });
  const attempts: Attempt[] = [];
  for (let i = 0; i < ATTEMPTS; i++) {
    const clicked = Date.now();
    await page.goto(`/setup/guess-${i}-${Date.now()}`, { timeout: 60_000 });
    await expect(page.getByRole("heading", { name: "Set-up link not valid" })).toBeVisible({ timeout: 60_000 });
    attempts.push({ clicked, answered: Date.now() });
  }
  expectDelays(attempts);
});
