import assert from "node:assert/strict";
import { test } from "node:test";
import { skippedInPlaywright, skippedInTap } from "./skip-report.ts";

test("skipped node tests are found in TAP with their reasons; passing and failing ones are not", () => {
  const tap = [
    "# Subtest: a",
    "ok 1 - a",
    "    ok 2 - nested one # SKIP needs root (ip netns)",
    "not ok 3 - broken",
    "ok 4 - another # SKIP",
    "ok 5 - a name with # in it",
  ].join("\n");
  assert.deepEqual(skippedInTap(tap, "unit"), [
    { suite: "unit", test: "nested one", reason: "needs root (ip netns)" },
    { suite: "unit", test: "another", reason: "no reason given" },
  ]);
});

test("skipped Playwright tests are found in its JSON report, nested suites included", () => {
  const report = {
    suites: [
      {
        title: "01.spec.ts",
        specs: [{ title: "runs", tests: [{ status: "expected" }] }],
        suites: [{ title: "group", specs: [{ title: "skips", tests: [{ status: "skipped", annotations: [{ type: "skip", description: "no chromium" }] }] }] }],
      },
    ],
  };
  assert.deepEqual(skippedInPlaywright(report), [{ suite: "e2e", test: "01.spec.ts › group › skips", reason: "no chromium" }]);
});
