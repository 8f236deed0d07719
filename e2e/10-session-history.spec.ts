import { expect, screenshot, test } from "./fixtures.ts";

test("administrators page through the session history, filtered by user, end reason and day, removed accounts included", async ({ page, context, users, db }) => {
  await users.signIn(context, await users.create({ role: "admin" }));
  const user = await users.create();
  const gone = `gone-${user.name}`;
  const at = (minutes: number) => new Date(Date.UTC(2026, 10, 20, 12, minutes));
  const row = (name: string, userId: number | null, i: number, endReason: string | null) => ({
    userId,
    userName: name,
    type: "host",
    transport: "udp",
    clientIpv4: "192.0.2.7",
    serverIpv4: "192.0.2.1",
    startedAt: at(i),
    endedAt: endReason ? at(i + 1) : null,
    endReason,
    bytesIn: BigInt(1_000 * (i + 1)),
    bytesOut: 5_000_000n,
  });
  for (let i = 0; i < 52; i++) await db.session.create({ data: row(user.name, user.id, i, i % 2 === 0 ? "quit" : "kicked") });
  await db.session.create({ data: row(gone, null, 60, "revoked") });

  await page.goto(`/admin/sessions/history?user=${user.name}`);
  const rows = page.locator("tbody tr");
  await expect(rows).toHaveCount(50);
  await expect(rows.first()).toContainText("2026-11-20 12:51:00");
  await expect(rows.first()).toContainText("52.0 kB");
  await expect(rows.first()).toContainText("5.00 MB");
  await page.screenshot(screenshot("admin-session-history"));
  await page.getByRole("link", { name: "Older sessions →" }).click();
  await expect(rows).toHaveCount(2);
  await expect(page.getByRole("link", { name: "Older sessions →" })).toHaveCount(0);

  const filters = page.getByRole("search", { name: "Filter the session history" });
  await filters.getByLabel("End reason").selectOption("kicked");
  await filters.getByRole("button", { name: "Filter" }).click();
  await expect(rows).toHaveCount(26);
  for (const ended of await page.locator('[data-field="ended"]').allTextContents()) expect(ended).toContain("kicked");

  await page.goto(`/admin/sessions/history?user=${gone}&reason=revoked&from=2026-11-20&to=2026-11-20`);
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText(`${gone} (removed)`);
  await page.goto(`/admin/sessions/history?user=${gone}&from=2026-11-21`);
  await expect(page.getByText("No session matches these filters.")).toBeVisible();
});
