import { defineConfig } from "@playwright/test";

// The Debian chromium: Playwright's own browser download is not reachable from the build machines.
const chromiumArgs = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

export default defineConfig({
  testDir: "e2e",
  testMatch: "*.spec.ts",
  globalSetup: "./e2e/global-setup.ts",
  // One broker for the run, and the first-run spec must use the set-up link before anyone else makes an admin.
  workers: 1,
  fullyParallel: false,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  // The JSON report is read by scripts/skip-report.ts at the end of npm test.
  reporter: [["list"], ["json", { outputFile: "artifacts/e2e.json" }]],
  outputDir: "artifacts/test-results",
  use: {
    browserName: "chromium",
    launchOptions: { executablePath: process.env.E2E_CHROMIUM ?? "/usr/bin/chromium", args: chromiumArgs },
    trace: "retain-on-failure",
  },
});
