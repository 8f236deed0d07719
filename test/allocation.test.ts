import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import type { Db } from "../server/db/client.ts";
import { parsePrefix6, prefixesOverlap } from "../server/net/prefix.ts";
import { AllocationRepository, SoldOutError } from "../server/repositories/delegations/repository.ts";
import { DomainError } from "../server/domain/errors.ts";
import { PoolRepository } from "../server/repositories/pools/repository.ts";
import { openStorage, type Storage } from "../server/storage/storage.ts";
import { tempDataDir } from "./support/broker.ts";

const actor = { name: "test" };
const root = new URL("..", import.meta.url).pathname;

describe("prefix allocation", () => {
  const data = tempDataDir();
  let storage: Storage;
  let db: Db;
  before(async () => {
    storage = await openStorage(data.env.DATABASE_URL!, { secretKey: Buffer.alloc(32) });
    db = storage.db;
    const users = storage.users;
    for (let i = 0; i < 60; i++) await users.create({ name: `u${i}` }, actor);
  });
  after(async () => {
    await storage.close();
    data.cleanup();
  });

  test("concurrent delegations never overlap and stop at exhaustion", async () => {
    await new PoolRepository(db).add({ cidr: "2001:db8:a00::/43", purpose: "delegation", prefixLength: 48 }, actor);
    const allocations = new AllocationRepository(db);
    const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => allocations.delegate(`u${i}`, actor)));
    const prefixes = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.prefix] : []));
    const failures = results.flatMap((r) => (r.status === "rejected" ? [r.reason as Error] : []));
    assert.equal(prefixes.length, 32, "a /43 holds 32 /48s");
    assert.equal(failures.length, 8);
    assert.ok(failures.every((e) => e instanceof SoldOutError && e.message === "every delegation pool is full"));
    const parsed = prefixes.map(parsePrefix6);
    for (let i = 0; i < parsed.length; i++) {
      for (let j = i + 1; j < parsed.length; j++) assert.ok(!prefixesOverlap(parsed[i]!, parsed[j]!), `${prefixes[i]} vs ${prefixes[j]}`);
    }
  });

  test("separate processes delegating at once get distinct prefixes", async () => {
    await new PoolRepository(db).add({ cidr: "2001:db8:b00::/40", purpose: "delegation", prefixLength: 48 }, actor);
    const run = (user: string) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ["bin/dtcpctl.js", "delegate", user, "--pool", "2001:db8:b00::/40"], { cwd: root, env: data.env });
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        child.on("exit", (code) => (code === 0 ? resolve(out.split(" ")[0]!) : reject(new Error(err))));
      });
    const prefixes = await Promise.all(["u40", "u41", "u42", "u43", "u44", "u45"].map(run));
    assert.equal(new Set(prefixes).size, prefixes.length, prefixes.join(" "));
    assert.ok(prefixes.every((p) => p.startsWith("2001:db8:b")));
  });

  test("pools refuse overlaps, bad sizes and bad prefixes with a message on the field", async () => {
    const pools = new PoolRepository(db);
    const refusal = async (input: Record<string, unknown>) => {
      const err = await pools.add(input, actor).then(() => null, (e: unknown) => e);
      assert.ok(err instanceof DomainError, String(err));
      return [err.field, err.message];
    };
    assert.deepEqual(await refusal({ cidr: "2001:db8:b10::/44", purpose: "link" }), ["cidr", "2001:db8:b10::/44 overlaps the existing pool 2001:db8:b00::/40"]);
    assert.deepEqual(await refusal({ cidr: "2001:db8:c00::/40", purpose: "link", prefixLength: 64 }), ["prefixLength", "link pools hand out /126 or /127 blocks"]);
    assert.deepEqual(await refusal({ cidr: "2001:db8:c00::/40", purpose: "delegation", prefixLength: 32 }), ["prefixLength", "a /32 does not fit in 2001:db8:c00::/40"]);
    assert.deepEqual(await refusal({ cidr: "2001:db8:c00::/40", purpose: "delegation", prefixLength: 80 }), ["prefixLength", "delegated prefixes are /64 or shorter"]);
    assert.deepEqual(await refusal({ cidr: "not-a-prefix", purpose: "delegation" }), ["cidr", '"not-a-prefix" is not an IPv6 prefix (expected address/length, like 2001:db8::/48)']);
    assert.deepEqual(await refusal({ cidr: "2001:db8:c00::/40", purpose: "transit" }), ["purpose", "purpose is link or delegation"]);
    assert.equal((await pools.list()).length, 2, "nothing was added");
  });

  test("link pairs are stable per user, distinct across users, and sold out when the pool is full", async () => {
    await new PoolRepository(db).add({ cidr: "2001:db8:ffff::/125", purpose: "link" }, actor);
    const allocations = new AllocationRepository(db);
    const first = await allocations.linkPairForLogin(1, "u0", actor);
    assert.deepEqual([first.clientAddress, first.serverAddress, first.block], ["2001:db8:ffff::2", "2001:db8:ffff::1", "2001:db8:ffff::/126"]);
    assert.equal((await allocations.linkPairForLogin(1, "u0", actor)).id, first.id);
    const second = await allocations.linkPairForLogin(2, "u1", actor);
    assert.equal(second.block, "2001:db8:ffff::4/126");
    await assert.rejects(allocations.linkPairForLogin(3, "u2", actor), SoldOutError);
  });
});
