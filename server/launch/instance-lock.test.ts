import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { awaitInstanceLock, holdInstanceLock, InstanceLockedError, lockName } from "./instance-lock.ts";
import { LIFELINE_ENV } from "./lifeline.ts";

const dir = () => mkdtempSync(join(tmpdir(), "dtcp-lock-"));

test("a second holder is refused with the holder's pid; the name is free once it is released", async () => {
  const data = dir();
  const name = lockName("broker", data);
  const lock = await holdInstanceLock(name, `the data directory ${data}`);
  await assert.rejects(holdInstanceLock(name, `the data directory ${data}`), (err: unknown) => {
    assert.ok(err instanceof InstanceLockedError);
    assert.deepEqual(err.holders, [process.pid]);
    assert.match(err.message, new RegExp(`^the data directory ${data} is already in use by pid ${process.pid} \\(`));
    return true;
  });
  assert.notEqual(lockName("broker", dir()), name, "another directory, another lock");
  await lock.release();
  await (await holdInstanceLock(name, "again")).release();
  rmSync(data, { recursive: true });
});

test("a child given the lock holds it until it dies, even killed with SIGKILL", async () => {
  const data = dir();
  const name = lockName("broker", data);
  const lock = await holdInstanceLock(name, "the data directory");
  const child = spawn("sleep", ["60"], { stdio: ["ignore", "ignore", "ignore", lock.fd] });
  await lock.release();
  await assert.rejects(holdInstanceLock(name, "the data directory"), (err: unknown) => err instanceof InstanceLockedError && err.holders.includes(child.pid!));
  let told: readonly number[] = [];
  const again = await awaitInstanceLock(name, "the data directory", 10_000, (holders) => {
    told = holders;
    child.kill("SIGKILL");
  });
  assert.deepEqual(told, [child.pid], "the wait names whom it waits for");
  await again.release();
  rmSync(data, { recursive: true });
});

test("a process following its launcher stops when the launcher's end of the lifeline closes", async () => {
  const script = `
    import { followLauncher } from ${JSON.stringify(new URL("./lifeline.ts", import.meta.url).href)};
    followLauncher(() => { process.stdout.write("stopping\\n"); process.exit(0); });
    if (process.env.${LIFELINE_ENV} !== undefined) process.exit(3);
    process.stdout.write("following\\n");
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit", "pipe"],
    env: { ...process.env, [LIFELINE_ENV]: "3" },
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  while (!output.includes("following")) await once(child.stdout!, "data");
  child.stdio[3]!.destroy();
  const [code] = await once(child, "exit");
  assert.equal(code, 0, "it ran its stop, and its own children would not see the lifeline");
  assert.match(output, /following\nstopping\n$/);
});
