import assert from "node:assert/strict";
import { test } from "node:test";
import { DatabaseHealth } from "./database-health.ts";

test("the database's state follows the probe, and each change is told once", async () => {
  let down: Error | null = null;
  const said: string[] = [];
  const health = new DatabaseHealth(async () => {
    if (down) throw down;
  }, (m) => said.push(m));
  await health.check();
  assert.equal(health.problem, null);
  down = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
  await health.check();
  await health.check();
  assert.equal(health.problem, "connect ECONNREFUSED 127.0.0.1:5432");
  down = null;
  await health.check();
  assert.equal(health.problem, null);
  assert.deepEqual(said, ["the database is unavailable (connect ECONNREFUSED 127.0.0.1:5432): pages answer 503 until it is back", "the database answers again"]);
});
