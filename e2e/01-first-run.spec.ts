import { hostAddresses } from "../server/net/host-addresses.ts";
import { suggestServerName } from "../server/net/reachability.ts";
import { SettingsRepository } from "../server/repositories/settings/repository.ts";
import { expect, screenshot, test } from "./fixtures.ts";

test("first run: set-up link, administrator, sign in, then a pool, a user and a delegation through the UI", async ({ page, db }) => {
  const setupUrl = process.env.E2E_SETUP_URL!;
  await page.goto(setupUrl);
  await expect(page.getByRole("heading", { name: "Create the administrator" })).toBeVisible();
  // Every mistake at once, each next to its field, as a sentence.
  await page.getByLabel("Administrator name").fill("Root Admin");
  await page.getByLabel("Password", { exact: true }).fill("short");
  await page.getByLabel("Password again").fill("shorter");
  // Opened on 127.0.0.1: the name offered is one of this host's addresses that clients elsewhere could use.
  const serverName = page.getByLabel("Server name");
  await expect(serverName).toHaveValue(suggestServerName("127.0.0.1", hostAddresses()));
  await serverName.fill("not a host!");
  await page.getByRole("button", { name: "Create administrator" }).click();
  await expect(page.locator('[data-field="name"]')).toHaveText(/^User names are 1–32 characters: .*\.$/);
  await expect(page.locator('[data-field="webPassword"]')).toHaveText("A web password has at least 12 characters.");
  await expect(page.locator('[data-field="confirmPassword"]')).toHaveText("The two passwords differ.");
  await expect(page.locator('[data-field="publicHost"]')).toHaveText("Enter a host name such as tunnel.example.net, or an IPv4 address.");
  expect(await db.user.count()).toBe(0);
  await page.screenshot(screenshot("setup-errors"));

  await page.getByLabel("Administrator name").fill("root-admin");

  await page.getByLabel("Password", { exact: true }).fill("a long admin password");
  await page.getByLabel("Password again").fill("a long admin password");
  // The clients of this suite are on this machine.
  await serverName.fill("127.0.0.1");
  await page.getByRole("button", { name: "Create administrator" }).click();
  await expect(page).toHaveURL(/\/sign-in\?name=root-admin&created=1$/);
  expect(await new SettingsRepository(db).get("publicHost")).toBe("127.0.0.1");
  await expect(page.locator("[data-created]")).toHaveText("The administrator root-admin is created. Sign in with the password you chose.");

  // The link is used up.
  await page.goto(setupUrl);
  await expect(page.getByRole("heading", { name: "Set-up link not valid" })).toBeVisible();

  await page.goto("/sign-in");
  await page.getByLabel("User name").fill("root-admin");
  await page.getByLabel("Password").fill("wrong password!");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("status")).toContainText("wrong");
  await page.getByLabel("Password").fill("a long admin password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/admin\/users$/);

  // A pool.
  await page.getByRole("link", { name: "Pools" }).click();
  await expect(page.getByRole("heading", { name: "Pools", level: 1 })).toBeVisible();
  await page.getByLabel("Prefix", { exact: true }).fill("2001:db8:100::/40");
  await page.getByLabel("Size handed out (prefix length)").fill("56");
  await page.getByRole("button", { name: "Add pool" }).click();
  await expect(page.getByRole("status")).toContainText("Added the delegation pool 2001:db8:100::/40");
  await expect(page.getByRole("cell", { name: "2001:db8:100::/40" })).toBeVisible();
  await page.screenshot(screenshot("admin-pools"));

  // A user: the DTCP password is shown once.
  await page.getByRole("link", { name: "Users" }).click();
  await expect(page.getByRole("heading", { name: "Users", level: 1 })).toBeVisible();
  const form = page.getByRole("form", { name: "Create user" });
  await form.getByLabel("User name").fill("alice");
  await form.getByLabel("E-mail (optional)").fill("alice@example.net");
  await form.getByRole("button", { name: "Create user" }).click();
  await expect(page.getByRole("status")).toContainText("Created user alice");
  const tunnelPassword = await page.locator('[data-secret="DTCP password"]').textContent();
  expect(tunnelPassword).toMatch(/^[A-Za-z0-9]{20}$/);
  await expect(page.getByRole("link", { name: "alice" })).toBeVisible();
  await page.screenshot(screenshot("admin-users"));

  // A delegation.
  await page.getByRole("link", { name: "Delegations" }).click();
  await expect(page.getByRole("heading", { name: "Delegations", level: 1 })).toBeVisible();
  await page.getByLabel("User", { exact: true }).selectOption("alice");
  await page.getByLabel("Pool").selectOption("2001:db8:100::/40");
  await page.getByRole("button", { name: "Delegate the next free prefix" }).click();
  await expect(page.getByRole("status")).toContainText("Delegated 2001:db8:100::/56 to alice");
  await expect(page.getByRole("cell", { name: "2001:db8:100::/56" })).toBeVisible();
  await page.screenshot(screenshot("admin-delegations"));

  const alice = await db.user.findUniqueOrThrow({ where: { name: "alice" }, include: { delegations: true } });
  expect(alice.delegations.map((d) => d.prefix)).toEqual(["2001:db8:100::/56"]);

  // Everything above is in the audit log, attributed to the administrator.
  await page.getByRole("link", { name: "Audit log" }).click();
  await expect(page.getByRole("heading", { name: "Audit log", level: 1 })).toBeVisible();
  await expect(page.getByRole("cell", { name: "delegation.create" })).toBeVisible();
  await page.getByLabel("Action starts with").fill("user.");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/action=user\./);
  await expect(page.getByRole("cell", { name: "user.create" }).first()).toBeVisible();
  await expect(page.getByRole("cell", { name: "delegation.create" })).toHaveCount(0);
  await page.getByRole("link", { name: "Clear" }).click();
  await page.screenshot(screenshot("admin-audit"));
});
