import assert from "node:assert/strict";
import { test } from "node:test";
import { LineBudget, printable, ProblemLog, type Logger } from "./log.ts";

function recording(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), debug: (m) => lines.push(`debug ${m}`) };
}

const coded = (message: string, code: string) => Object.assign(new Error(message), { code });

test("a flood of one failure is one line, then a count per interval; each cause is told apart", () => {
  const log = recording();
  const problems = new ProblemLog(log, 60_000);
  for (let i = 0; i < 1719; i++) problems.report("login", coded("database or disk is full", "SQLITE_FULL"));
  problems.report("login", coded("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"));
  problems.report("login", new Error("a bug\n    at somewhere"));
  assert.deepEqual(
    log.lines.filter((l) => l.startsWith("warn")),
    ["warn login: database or disk is full (SQLITE_FULL)", "warn login: connect ECONNREFUSED 127.0.0.1:5432", "warn login: a bug"],
  );
  assert.ok(log.lines.some((l) => l.startsWith("debug Error: a bug")), "an error without a code keeps its stack, at debug level");
  problems.flush();
  assert.deepEqual(log.lines.filter((l) => l.includes("more in the last")), ["warn login: 1718 more in the last 60 s (SQLITE_FULL)"]);
  problems.report("login", coded("database or disk is full", "SQLITE_FULL"));
  assert.equal(log.lines.at(-1), "warn login: database or disk is full (SQLITE_FULL)", "a new interval tells the cause again");
  problems.flush();
});

test("causes beyond the bound are counted under one", () => {
  const log = recording();
  const problems = new ProblemLog(log, 60_000);
  for (let i = 0; i < 1000; i++) problems.report("x", new Error(`distinct ${i}`));
  const warned = log.lines.filter((l) => l.startsWith("warn")).length;
  assert.equal(warned, 33, "32 causes, then one line for the rest");
  problems.flush();
  assert.match(log.lines.at(-1)!, /^warn x: 967 more in the last 60 s \(other causes\)$/);
});

test("printable: a peer's control bytes are written as \\xNN, so they can neither rewrite the terminal nor forge a line", () => {
  assert.equal(printable("-ERR \x1b]0;owned\x07\r2026-12-07 tunnel up: host"), "-ERR \\x1b]0;owned\\x07\\x0d2026-12-07 tunnel up: host");
  assert.equal(printable("csi \x9b2J, del \x7f, nul \x00"), "csi \\x9b2J, del \\x7f, nul \\x00");
  assert.equal(printable("plain text\twith a tab, ünïcode"), "plain text\twith a tab, ünïcode");
});

test("LineBudget: a burst, then a few lines a second; the rest counted and said with the next line", () => {
  let now = 0;
  const said: number[] = [];
  const budget = new LineBudget((n) => said.push(n), 5, 20, () => now);
  let logged = 0;
  for (let i = 0; i < 1000; i++) if (budget.take()) logged++;
  assert.equal(logged, 20, "the burst");
  assert.deepEqual(said, []);
  now += 1000;
  for (let i = 0; i < 1000; i++) if (budget.take()) logged++;
  assert.equal(logged, 25, "five more after a second");
  assert.deepEqual(said, [980], "the lines skipped before are said when the next one is logged");
  budget.flush();
  assert.deepEqual(said, [980, 995]);
  budget.flush();
  assert.deepEqual(said, [980, 995], "nothing more to say");
});
