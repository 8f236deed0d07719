import { readFile } from "node:fs/promises";
import { DtcpClient } from "../test/support/dtcp-client.ts";
import { expect, screenshot, test } from "./fixtures.ts";

test("a user signs in, downloads dtcpc.auth, and its line logs a DTCP client in", async ({ page, users, pools }) => {
  const pool = await pools.create();
  const user = await users.create({ allowedTypes: ["network", "host"] });
  const delegation = await pools.delegate(user.name, pool.cidr);

  await page.goto("/tunnel");
  await expect(page).toHaveURL(/\/sign-in$/);
  await page.getByLabel("User name").fill(user.name);
  await page.getByLabel("Password").fill(user.webPassword);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/tunnel$/);
  await expect(page.getByText(delegation.prefix)).toBeVisible();
  // A user sees no administration.
  await expect(page.getByRole("link", { name: "Users" })).toHaveCount(0);
  await page.screenshot(screenshot("portal"));

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download dtcpc.auth" }).click()]);
  expect(download.suggestedFilename()).toBe("dtcpc.auth");
  const content = await readFile((await download.path())!, "utf8");
  expect(content).toBe(`127.0.0.1:${user.name}:${user.tunnelPassword}\n`);

  const response = await page.request.get("/tunnel/dtcpclient.auth");
  expect(response.headers()["cache-control"]).toBe("no-store");
  expect(response.headers()["content-disposition"]).toBe('attachment; filename="dtcpclient.auth"');
  expect(await response.text()).toBe(content);

  const [server, name, password] = content.trimEnd().split(":") as [string, string, string];
  const client = await DtcpClient.connect(Number(process.env.E2E_DTCP_PORT));
  try {
    expect(server).toBe("127.0.0.1");
    const reply = await client.tunnel(name, password, "network");
    expect(reply).toBe(`+OK 127.0.0.1 127.0.0.1 ${delegation.prefix}`);
    await client.command("quit");
  } finally {
    client.close();
  }
});

test("rotating my DTCP password shows the new one once and the old one stops working", async ({ page, context, users, pools }) => {
  const pool = await pools.create();
  const user = await users.create({ allowedTypes: ["network"] });
  await pools.delegate(user.name, pool.cidr);
  await users.signIn(context, user);
  await page.goto("/tunnel");
  await page.getByRole("button", { name: "Rotate my DTCP password" }).click();
  await page.getByRole("button", { name: "Yes, rotate" }).click();
  const fresh = await page.locator('[data-secret="New DTCP password"]').textContent();
  expect(fresh).toMatch(/^[A-Za-z0-9]{20}$/);
  expect(await (await page.request.get("/tunnel/dtcpc.auth")).text()).toBe(`127.0.0.1:${user.name}:${fresh}\n`);

  const client = await DtcpClient.connect(Number(process.env.E2E_DTCP_PORT));
  try {
    expect(await client.tunnel(user.name, user.tunnelPassword, "network")).toBe("-ERR authentication failed.");
  } finally {
    client.close();
  }
});

test("Connecting: one recommended command for the situation chosen, and the Linux client to download", async ({ page, context, users }) => {
  const user = await users.create({ allowedTypes: ["network", "host"], allowedTransports: ["udp", "proto41"] });
  await users.signIn(context, user);
  await page.goto("/tunnel");
  const chooser = page.locator("[data-connect-chooser]");
  const connect = chooser.locator("[data-command]").last();
  await expect(connect).toHaveText(`sudo dtcpc -l -U -n --auth-file ~/Downloads/dtcpc.auth -t host -u ${user.name} -p ${process.env.E2E_DTCP_PORT} 127.0.0.1`);
  await expect(chooser.locator("[data-command]").first()).toHaveText("sudo apt install nodejs npm build-essential python3");
  await chooser.screenshot(screenshot("portal-connecting"));

  await chooser.getByLabel("Your computer runs").selectOption({ label: "FreeBSD: dtcpc (KAME)" });
  await expect(chooser.getByLabel("Carried over").locator("option")).toHaveText(["IPv6-in-IPv4 (protocol 41)"]);
  await chooser.getByLabel("Tunnel type").selectOption("network");
  await chooser.getByLabel("Your network").selectOption("public");
  await expect(connect).toHaveText(`dtcpc -l -t network -u ${user.name} -p ${process.env.E2E_DTCP_PORT} 127.0.0.1`);
  await expect(chooser.locator("[data-command]")).toHaveCount(3);
  await expect(chooser.getByRole("link", { name: /Download dtcpc\.tgz/ })).toHaveCount(0);

  await chooser.getByLabel("Your computer runs").selectOption({ label: "Linux: dtcpc from this broker" });
  const [download] = await Promise.all([page.waitForEvent("download"), chooser.getByRole("link", { name: /Download dtcpc\.tgz/ }).click()]);
  expect(download.suggestedFilename()).toBe("dtcpc.tgz");
  const archive = await readFile((await download.path())!);
  expect([archive[0], archive[1]]).toEqual([0x1f, 0x8b]);
});
