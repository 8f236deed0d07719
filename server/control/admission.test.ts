import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { UnauthenticatedConnections } from "./admission.ts";

test("connections are counted per address and released", () => {
  const set = new UnauthenticatedConnections<string>({ maxUnauthenticatedPerAddress: 2, maxUnauthenticated: 100 });
  assert.deepEqual(set.admit("a", "a1"), { admitted: true, evicted: null });
  assert.deepEqual(set.admit("a", "a2"), { admitted: true, evicted: null });
  assert.deepEqual(set.admit("a", "a3"), { admitted: false });
  assert.equal(set.admit("b", "b1").admitted, true);
  set.release("a1");
  set.release("a1");
  assert.equal(set.heldBy("a"), 1, "releasing twice is harmless");
  assert.equal(set.admit("a", "a4").admitted, true);
  assert.equal(set.size, 3);
});

test("at the total, a newcomer gets in and the oldest connection of the busiest address goes", () => {
  const set = new UnauthenticatedConnections<string>({ maxUnauthenticatedPerAddress: 3, maxUnauthenticated: 6 });
  set.admit("user", "user1");
  for (const c of ["x1", "y1", "x2", "y2", "x3"]) set.admit(c[0]!, c);
  assert.deepEqual(set.admit("z", "z1"), { admitted: true, evicted: "x1" }, "x holds 3, the most");
  assert.deepEqual(set.admit("z", "z2"), { admitted: true, evicted: "y1" }, "x and y hold 2 each now: y got there first");
  assert.equal(set.size, 6);
  assert.equal(set.heldBy("user"), 1);
});

test("a client with one connection from its address outlasts a flood from many addresses", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 400 }), (sources) => {
      const set = new UnauthenticatedConnections<string>({ maxUnauthenticatedPerAddress: 4, maxUnauthenticated: 32 });
      set.admit("real", "real");
      let n = 0;
      for (const s of sources) {
        const busiest = Math.max(...Array.from({ length: 41 }, (_, i) => set.heldBy(`attacker-${i}`)));
        const result = set.admit(`attacker-${s}`, `c${n++}`);
        if (result.admitted && result.evicted === "real") assert.equal(busiest, 1, "evicted while some address held more");
        assert.ok(set.size <= 32);
      }
    }),
  );
});

test("any sequence of admissions and releases keeps the counts right and within both limits", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ release: fc.boolean(), address: fc.integer({ min: 0, max: 3 }), pick: fc.nat() }), { maxLength: 300 }),
      (steps) => {
        const set = new UnauthenticatedConnections<number>({ maxUnauthenticatedPerAddress: 3, maxUnauthenticated: 7 });
        const model = new Map<number, string>();
        let next = 0;
        for (const step of steps) {
          if (step.release && model.size > 0) {
            const victim = [...model.keys()][step.pick % model.size]!;
            set.release(victim);
            model.delete(victim);
            continue;
          }
          const address = `a${step.address}`;
          const counts = (a: string) => [...model.values()].filter((x) => x === a).length;
          const busiest = Math.max(0, ...Array.from({ length: 4 }, (_, a) => counts(`a${a}`)));
          const result = set.admit(address, next);
          if (result.admitted) {
            if (result.evicted !== null) {
              assert.equal(counts(model.get(result.evicted)!), busiest, "room is made at the busiest address");
              model.delete(result.evicted);
            }
            model.set(next, address);
          }
          next++;
          assert.equal(set.size, model.size);
          assert.ok(set.size <= 7);
          for (let a = 0; a <= 3; a++) {
            const held = [...model.values()].filter((x) => x === `a${a}`).length;
            assert.equal(set.heldBy(`a${a}`), held);
            assert.ok(held <= 3);
          }
        }
      },
    ),
    { numRuns: 500 },
  );
});

test("limits below one are refused", () => {
  assert.throws(() => new UnauthenticatedConnections({ maxUnauthenticatedPerAddress: 0, maxUnauthenticated: 5 }), RangeError);
});
