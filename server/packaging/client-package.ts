// The Linux client as an npm package of its own, made from this checkout: what a broker's users
// install with `npm install -g dtcpc.tgz` (the portal offers it). It holds the client's TypeScript
// sources and nothing else of the broker (found by following its imports from the entry point), the
// data-plane addon's C sources (npm builds them at install, as for the broker), and a package.json
// whose only dependency is tsx, which runs the sources as the broker's own `bin/dtcpc.js` does.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { tarGz, type TarEntry } from "./tar.ts";

const ENTRY = "server/client/dtcpc.ts";
const RELATIVE_IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'";]*?\bfrom\s+["'](\.[^"']+)["']/g;

/** The entry point and every source file it imports, directly or not, relative to root. */
export function clientSources(root: string): string[] {
  const found = new Set<string>();
  const visit = (path: string): void => {
    if (found.has(path)) return;
    found.add(path);
    const text = readFileSync(join(root, path), "utf8");
    for (const match of text.matchAll(RELATIVE_IMPORT)) visit(normalize(join(dirname(path), match[1]!)));
  };
  visit(ENTRY);
  return [...found].sort();
}

interface RootManifest {
  version: string;
  engines?: Record<string, string>;
  license?: string;
  dependencies: Record<string, string>;
}

/** The files of the client package, under package/ as npm expects. */
export function clientPackageEntries(root: string): TarEntry[] {
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as RootManifest;
  const tsx = manifest.dependencies.tsx;
  if (!tsx) throw new Error("package.json: the client package needs tsx among the dependencies");
  const clientManifest = {
    name: "dtcpc",
    version: manifest.version,
    description: "DTCP tunnel client for Linux: IPv6 over protocol 41 or UDP with NAT traversal",
    type: "module",
    bin: { dtcpc: "bin/dtcpc.js" },
    engines: manifest.engines,
    ...(manifest.license ? { license: manifest.license } : {}),
    gypfile: true,
    scripts: { install: "node-gyp rebuild --loglevel=warn" },
    dependencies: { tsx },
  };
  const native = readdirSync(join(root, "native/dataplane"))
    .filter((name) => /\.[ch]$/.test(name))
    .map((name) => `native/dataplane/${name}`);
  const files = ["bin/dtcpc.js", "binding.gyp", ...native.sort(), ...clientSources(root)];
  return [
    { path: "package/package.json", content: Buffer.from(JSON.stringify(clientManifest, null, 2) + "\n"), mode: 0o644 },
    ...files.map((path) => ({
      path: `package/${relative(root, join(root, path))}`,
      content: readFileSync(join(root, path)),
      mode: path.startsWith("bin/") ? 0o755 : 0o644,
    })),
  ];
}

/** The client package as a .tgz. */
export function clientPackage(root: string): Buffer {
  return tarGz(clientPackageEntries(root));
}
