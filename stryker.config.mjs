// `npm run test:mutation`: StrykerJS on the pure core (the DTCP parser and replies, address and
// prefix arithmetic, secrets, the client's session machine). Each mutant is run against the unit
// tests of that code (node --test through tsx, read as TAP); a mutant no test notices is a line
// the tests do not really pin down. Not part of npm test: it takes a while.
export default {
  testRunner: "tap",
  tap: {
    testFiles: ["server/protocol/*.test.ts", "server/net/*.test.ts", "server/secrets/*.test.ts", "server/client/session.test.ts", "server/client/reply.test.ts", "server/client/host-checks.test.ts"],
    nodeArgs: ["--test-reporter=tap", "--import", "tsx", "-r", "{{hookFile}}", "{{testFile}}"],
    forceBail: true,
  },
  mutate: ["server/protocol/**/*.ts", "server/net/**/*.ts", "server/secrets/**/*.ts", "server/client/session.ts", "server/client/reply.ts", "server/client/host-checks.ts", "!**/*.test.ts"],
  coverageAnalysis: "perTest",
  concurrency: 2,
  timeoutMS: 20_000,
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "artifacts/mutation/index.html" },
  jsonReporter: { fileName: "artifacts/mutation/report.json" },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, skipFull: false },
  thresholds: { high: 90, low: 80, break: null },
  ignorePatterns: [".next", "artifacts", "build", "data", "native/*/build", "e2e", "bench"],
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
};
