import assert from "node:assert/strict";
import { test } from "node:test";
import { ChallengeMemory } from "./client-session.ts";

test("challenges seen are remembered across connections, the last 1,024 only: a server cannot grow the client", () => {
  const memory = new ChallengeMemory();
  const challenge = (i: number) => i.toString(16).toUpperCase().padStart(32, "0");
  assert.equal(memory.seen(challenge(0)), false);
  assert.equal(memory.seen(challenge(0)), true, "a repeat is noticed");
  for (let i = 1; i <= ChallengeMemory.SIZE; i++) assert.equal(memory.seen(challenge(i)), false);
  assert.equal(memory.seen(challenge(ChallengeMemory.SIZE)), true, "the newest is still remembered");
  assert.equal(memory.seen(challenge(0)), false, "the oldest was let go to keep the bound");
});
