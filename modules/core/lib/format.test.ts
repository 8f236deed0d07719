import assert from "node:assert/strict";
import { test } from "node:test";
import { formatAgo, formatBytes, formatRate, transportName } from "./format.ts";

test("one formatting of bytes, rates and ages everywhere", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(999), "999 B");
  assert.equal(formatBytes(1234), "1.23 kB");
  assert.equal(formatBytes(12_345_678), "12.3 MB");
  assert.equal(formatBytes(123_456_789_012), "123 GB");
  assert.equal(formatRate(0), "0 bit/s");
  assert.equal(formatRate(125_000), "1.00 Mbit/s");
  assert.equal(formatRate(100), "800 bit/s");
  assert.equal(formatAgo(0, 500), "just now");
  assert.equal(formatAgo(0, 42_000), "42 s ago");
  assert.equal(formatAgo(0, 5 * 60_000 + 1), "5 min ago");
  assert.equal(formatAgo(0, 3 * 3600_000), "3 h ago");
  assert.equal(formatAgo(0, 3 * 3600_000 + 2 * 60_000), "3 h 2 min ago");
  assert.equal(formatAgo(0, 50 * 3600_000), "2 d ago");
  assert.equal(formatAgo(1000, 0), "just now");
});

test("transports are named in words, TCP included", () => {
  assert.deepEqual(["proto41", "udp", "tcp"].map(transportName), ["protocol 41", "UDP", "TCP"]);
});
