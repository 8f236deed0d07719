// Summarizes a V8 .cpuprofile (node --cpu-prof): self time per function and per source file or package,
// plus inclusive time of the project's own functions.
//   tsx bench/cpuprofile.ts <file.cpuprofile> [top]
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame comes from: an npm package, a project file, node internals or V8 itself. */
function origin(url: string): string {
  if (url === "") return "(native/V8)";
  if (url.startsWith("node:")) return "node:internals";
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "/node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const server = url.indexOf("/server/");
  return server >= 0 ? url.slice(server + 1) : url.replace(/^file:\/\//, "");
}

export function summarizeProfile(profile: CpuProfile, top = 25): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const fnKey = (n: ProfileNode) => {
    const f = n.callFrame;
    const url = f.url ? `${origin(f.url)}:${f.lineNumber + 1}` : "";
    return `${f.functionName || "(anonymous)"} ${url}`.trim();
  };
  const selfFn = new Map<string, number>();
  const selfOrigin = new Map<string, number>();
  const inclusiveOwn = new Map<string, number>();
  let idle = 0;
  for (const [id, t] of self) {
    const n = byId.get(id)!;
    if (n.callFrame.functionName === "(idle)") idle += t;
    selfFn.set(fnKey(n), (selfFn.get(fnKey(n)) ?? 0) + t);
    const o = n.callFrame.functionName.startsWith("(") ? n.callFrame.functionName : origin(n.callFrame.url);
    selfOrigin.set(o, (selfOrigin.get(o) ?? 0) + t);
    // Inclusive time of project functions (server/…): each counted once per sample.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur)!;
      if (!node.callFrame.url.includes("/server/") || node.callFrame.url.includes("/generated/")) continue;
      const key = fnKey(node);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusiveOwn.set(key, (inclusiveOwn.get(key) ?? 0) + t);
    }
  }
  const busy = total - idle;
  const pct = (t: number) => `${((100 * t) / busy).toFixed(1).padStart(5)}%`;
  const ms = (t: number) => `${(t / 1000).toFixed(0).padStart(7)} ms`;
  const table = (m: Map<string, number>, n: number) =>
    [...m]
      .filter(([k]) => k !== "(idle)" && !k.startsWith("(idle) "))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, t]) => `  ${ms(t)} ${pct(t)}  ${k}`)
      .join("\n");
  return [
    `profile ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (idle ${(idle / 1e6).toFixed(1)} s); percentages of busy time`,
    "self time by package / file:",
    table(selfOrigin, 15),
    "self time by function:",
    table(selfFn, top),
    "inclusive time of project functions (server/):",
    table(inclusiveOwn, 20),
  ].join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    console.error("usage: tsx bench/cpuprofile.ts <file.cpuprofile> [top]");
    process.exit(2);
  }
  console.log(summarizeProfile(JSON.parse(readFileSync(file, "utf8")) as CpuProfile, Number(top ?? 40)));
}
