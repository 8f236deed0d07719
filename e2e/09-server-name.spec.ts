import { hostAddresses } from "../server/net/host-addresses.ts";
import { suggestServerName } from "../server/net/reachability.ts";
import { SettingsRepository } from "../server/repositories/settings/repository.ts";
import { expect, screenshot, test } from "./fixtures.ts";

test("the server name handed to clients is set once by an administrator; until then the portal warns", async ({ browser, users, db }) => {
  const settings = new SettingsRepository(db);
  await settings.set("publicHost", "", { name: "e2e" });
  const admin = await users.create({ role: "admin" });
  const user = await users.create();
  const asUser = await browser.newContext({ baseURL: process.env.E2E_BASE_URL });
  const asAdmin = await browser.newContext({ baseURL: process.env.E2E_BASE_URL });
  try {
    await users.signIn(asUser, user);
    await users.signIn(asAdmin, admin);
    const portal = await asUser.newPage();
    await portal.goto("/tunnel");
    // Opened on 127.0.0.1, as on a first look: that name is no use to a client elsewhere.
    await expect(portal.locator("[data-server-warning]")).toContainText("127.0.0.1 is a loopback address");
    await portal.screenshot(screenshot("portal-server-name-warning"));

    const page = await asAdmin.newPage();
    await page.goto("/admin/settings");
    const form = page.getByRole("form", { name: "Server name" });
    await expect(form.getByLabel("Clients connect to")).toHaveValue(suggestServerName("127.0.0.1", hostAddresses()));
    await form.getByLabel("Clients connect to").fill("not a host name!");
    await form.getByRole("button", { name: "Save server name" }).click();
    await expect(form.locator('[data-field="publicHost"]')).toHaveText("Enter a host name such as tunnel.example.net, or an IPv4 address.");
    expect(await settings.get("publicHost")).toBe("");
    await form.getByLabel("Clients connect to").fill("tunnel.example.net");
    await form.getByRole("button", { name: "Save server name" }).click();
    await expect(form.getByRole("status")).toContainText("Clients connect to tunnel.example.net.");
    // The administrator's save, not the reset this test made first (actor "e2e").
    const saved = await db.auditLog.findMany({ where: { action: "setting.set", target: "publicHost", actor: `web:${admin.name}` } });
    expect(saved).toHaveLength(1);
    expect(JSON.parse(saved[0]!.after!)).toEqual({ publicHost: "tunnel.example.net" });

    await portal.reload();
    await expect(portal.locator("[data-server-warning]")).toHaveCount(0);
    const auth = await portal.request.get("/tunnel/dtcpc.auth");
    expect(await auth.text()).toMatch(new RegExp(`^tunnel\\.example\\.net:${user.name}:`));
  } finally {
    await settings.set("publicHost", "", { name: "e2e" });
    await asUser.close();
    await asAdmin.close();
  }
});
