// The end of `npm test`: how many tests were skipped in this run, and why (from the TAP the node
// suites wrote and the JSON Playwright wrote under artifacts/). Under CI a skipped test is a
// failure: every test must run there.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ARTIFACTS = join(import.meta.dirname, "..", "artifacts");
export const REPORTS = { unit: "unit.tap", postgres: "postgres.tap", e2e: "e2e.json", faults: "faults.tap", "hostile-server": "hostile-server.tap" } as const;

export interface Skipped {
  suite: string;
  test: string;
  reason: string;
}

/** Skipped tests in node's TAP output: `ok N - name # SKIP reason`. */
export function skippedInTap(tap: string, suite: string): Skipped[] {
  const found: Skipped[] = [];
  for (const line of tap.split("\n")) {
    const match = /^\s*ok \d+ - (.*?) # SKIP\s*(.*)$/.exec(line);
    if (match) found.push({ suite, test: match[1]!, reason: match[2]!.trim() || "no reason given" });
  }
  return found;
}

interface PlaywrightSuite {
  title: string;
  suites?: PlaywrightSuite[];
  specs?: { title: string; tests: { status: string; annotations?: { type: string; description?: string }[] }[] }[];
}

/** Skipped tests in Playwright's JSON report. */
export function skippedInPlaywright(report: { suites: PlaywrightSuite[] }): Skipped[] {
  const found: Skipped[] = [];
  const walk = (suite: PlaywrightSuite, path: string) => {
    for (const spec of suite.specs ?? []) {
      for (const t of spec.tests) {
        if (t.status !== "skipped") continue;
        const reason = t.annotations?.find((a) => a.type === "skip")?.description ?? "no reason given";
        found.push({ suite: "e2e", test: `${path}${spec.title}`, reason });
      }
    }
    for (const child of suite.suites ?? []) walk(child, `${path}${child.title} › `);
  };
  for (const suite of report.suites) walk(suite, `${suite.title} › `);
  return found;
}

function main(): number {
  const skipped: Skipped[] = [];
  const missing: string[] = [];
  for (const [suite, file] of Object.entries(REPORTS)) {
    const path = join(ARTIFACTS, file);
    if (!existsSync(path)) {
      missing.push(file);
      continue;
    }
    const text = readFileSync(path, "utf8");
    skipped.push(...(suite === "e2e" ? skippedInPlaywright(JSON.parse(text)) : skippedInTap(text, suite)));
  }
  if (missing.length > 0) process.stdout.write(`test reports missing (their suites did not run): ${missing.join(", ")}\n`);
  const reasons = new Map<string, Skipped[]>();
  for (const s of skipped) reasons.set(`${s.suite}: ${s.reason}`, [...(reasons.get(`${s.suite}: ${s.reason}`) ?? []), s]);
  process.stdout.write(`\n${skipped.length} tests skipped${skipped.length ? ":" : ""}\n`);
  for (const [reason, tests] of reasons) {
    process.stdout.write(`  ${tests.length} × ${reason}\n`);
    for (const t of tests.slice(0, 5)) process.stdout.write(`      ${t.test}\n`);
    if (tests.length > 5) process.stdout.write(`      … and ${tests.length - 5} more\n`);
  }
  if (process.env.CI && (skipped.length > 0 || missing.length > 0)) {
    process.stderr.write("under CI every test must run: nothing may be skipped\n");
    return 1;
  }
  return 0;
}

if (process.argv[1] === import.meta.filename) process.exitCode = main();
