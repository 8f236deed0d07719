import assert from "node:assert/strict";
import { test } from "node:test";
import { BatchLoader } from "./batch-loader.ts";

test("lookups in one turn become one fetch; duplicates share it; misses are null", async () => {
  const fetches: string[][] = [];
  const loader = new BatchLoader<string, number>(async (keys) => {
    fetches.push(keys);
    return new Map(keys.filter((k) => k !== "missing").map((k) => [k, k.length]));
  });
  const results = await Promise.all(["a", "bb", "a", "missing"].map((k) => loader.load(k)));
  assert.deepEqual(results, [1, 2, 1, null]);
  assert.deepEqual(fetches, [["a", "bb", "missing"]]);
  assert.equal(await loader.load("ccc"), 3);
  assert.equal(fetches.length, 2);
});

test("batches are capped and a failing fetch rejects only its own waiters", async () => {
  const loader = new BatchLoader<number, number>(async (keys) => {
    if (keys.includes(0)) throw new Error("boom");
    return new Map(keys.map((k) => [k, k]));
  }, 2);
  const results = await Promise.allSettled([0, 1, 2, 3].map((k) => loader.load(k)));
  assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected", "fulfilled", "fulfilled"]);
});
