import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

/** What the web build is made from: a change to any of these makes the build stale. */
export const BUILD_INPUTS = ["package-lock.json", "next.config.mjs", "proxy.ts", "tsconfig.json", "tsconfig.web.json", "prisma/schema.prisma", "app", "modules", "server"];

const SKIPPED = new Set(["node_modules", "generated", ".next"]);

function* files(root: string, path: string): Generator<string> {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return;
  }
  if (stat.isFile()) {
    if (!/\.test\.tsx?$/.test(path)) yield relative(root, path);
    return;
  }
  for (const entry of readdirSync(path).sort()) if (!SKIPPED.has(entry)) yield* files(root, join(path, entry));
}

/** SHA-256 over the names and contents of the build inputs under `root`. */
export function sourceHash(root: string, inputs: readonly string[] = BUILD_INPUTS): string {
  const hash = createHash("sha256");
  for (const input of inputs) {
    for (const file of files(root, join(root, input))) {
      hash.update(`${file}\0`);
      hash.update(readFileSync(join(root, file)));
      hash.update("\0");
    }
  }
  return hash.digest("hex");
}
