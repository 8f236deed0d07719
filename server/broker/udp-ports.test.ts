import assert from "node:assert/strict";
import { test } from "node:test";
import { UdpPortPool } from "./udp-ports.ts";

test("ports are handed out from the base, each once, until exhausted", () => {
  const pool = new UdpPortPool(4028, 4030);
  assert.deepEqual([pool.take(), pool.take(), pool.take(), pool.take()], [4028, 4029, 4030, null]);
  assert.equal(pool.inUse, 3);
});

test("released ports come back oldest-first; double release is ignored", () => {
  const pool = new UdpPortPool(4028, 4031);
  const ports = [pool.take(), pool.take(), pool.take(), pool.take()] as number[];
  pool.release(ports[2]!);
  pool.release(ports[0]!);
  pool.release(ports[0]!);
  assert.deepEqual([pool.take(), pool.take(), pool.take()], [ports[2], ports[0], null]);
});

test("a bad base port is refused", () => {
  assert.throws(() => new UdpPortPool(0), RangeError);
  assert.throws(() => new UdpPortPool(70000), RangeError);
});

test("long churn keeps every port unique", () => {
  const pool = new UdpPortPool(10_000, 10_099);
  const live = new Set<number>();
  for (let i = 0; i < 20_000; i++) {
    if (live.size === 100 || (live.size > 0 && i % 3 === 0)) {
      const port = live.values().next().value!;
      live.delete(port);
      pool.release(port);
    } else {
      const port = pool.take();
      assert.ok(port !== null && !live.has(port));
      live.add(port);
    }
  }
});
