import assert from "node:assert/strict";
import { test } from "node:test";
import { RestartSchedule } from "./restart-schedule.ts";

const limits = { baseMs: 1_000, maxMs: 30_000, stableMs: 60_000, perWindow: 5, windowMs: 60_000 };

test("a child that keeps dying waits longer each time, up to the cap", () => {
  const schedule = new RestartSchedule(limits);
  let now = 0;
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    const delay = schedule.next(100, now);
    delays.push(delay);
    now += delay + 100;
  }
  assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000]);
});

test("no more than five restarts in any minute, however the back-off falls", () => {
  const schedule = new RestartSchedule({ ...limits, maxMs: 1_000 });
  let now = 0;
  const starts: number[] = [];
  for (let i = 0; i < 12; i++) {
    now += schedule.next(10, now);
    starts.push(now);
    now += 10;
  }
  for (let i = 0; i + 5 < starts.length; i++) assert.ok(starts[i + 5]! - starts[i]! >= 60_000, `restarts ${i}..${i + 5} fall within a minute: ${starts.join(", ")}`);
  assert.ok(starts.at(-1)! < 3 * 60_000, "it keeps restarting: the limit delays, it does not give up");
});

test("a child that stayed up a while starts the back-off over", () => {
  const schedule = new RestartSchedule(limits);
  schedule.next(100, 0);
  schedule.next(100, 2_000);
  assert.equal(schedule.next(120_000, 200_000), 1_000);
});
