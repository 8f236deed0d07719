import type { Locator, Page } from "@playwright/test";
import { DtcpClient } from "../test/support/dtcp-client.ts";
import { expect, screenshot, test } from "./fixtures.ts";

const PHONE = { width: 390, height: 844 };

/** The whole element is on screen, not scrolled or clipped off the right edge. */
async function onScreen(locator: Locator) {
  await expect(locator).toBeVisible();
  const box = (await locator.boundingBox())!;
  expect(box.x).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width).toBeLessThanOrEqual(PHONE.width);
}

async function navigationOnOneLine(page: Page) {
  const tops = await page.getByRole("navigation", { name: "Main" }).locator("li").evaluateAll((items) => items.map((li) => (li as HTMLElement).offsetTop));
  expect(new Set(tops).size).toBe(1);
}

test("at phone width the actions of the Pools and Sessions tables are on screen, and the navigation is one line", async ({ page, context, users, pools }) => {
  await page.setViewportSize(PHONE);
  await users.signIn(context, await users.create({ role: "admin" }));
  const pool = await pools.create();
  await page.goto("/admin/pools");
  await navigationOnOneLine(page);
  const row = page.locator("tr", { hasText: pool.cidr });
  await onScreen(row.getByRole("button", { name: "Remove" }));
  await page.screenshot(screenshot("phone-admin-pools"));

  const user = await users.create();
  const client = await DtcpClient.connect(Number(process.env.E2E_DTCP_PORT));
  try {
    expect(await client.tunnel(user.name, user.tunnelPassword, "tunnelonly")).toMatch(/^\+OK /);
    await page.goto("/admin/sessions");
    const session = page.locator(`tr[data-user="${user.name}"]`);
    await expect(session).toBeVisible();
    await page.screenshot(screenshot("phone-admin-sessions"));
    await onScreen(session.getByRole("button", { name: "Kick" }));
    await navigationOnOneLine(page);
  } finally {
    client.close();
  }
});
