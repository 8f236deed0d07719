// Plain JavaScript: Next loads a TypeScript config through a transpiler and says so at every start.
/** @type {import("next").NextConfig} */
const config = {
  // Native modules and Prisma's generated client stay plain Node requires, not bundled.
  serverExternalPackages: ["better-sqlite3", "argon2", "@prisma/adapter-better-sqlite3", "@prisma/adapter-pg", "pg", "@prisma/client"],
  poweredByHeader: false,
  // The web app's HTTP server refuses bodies over 1 MiB before Next reads them
  // (server/web/http-limits.ts); Next's own bounds match it rather than its 10 MB default.
  experimental: {
    proxyClientMaxBodySize: 1 << 20,
    serverActions: { bodySizeLimit: 1 << 20 },
  },
  // Next rewrites the tsconfig it uses; this one, not the root tsconfig.json that `npm run typecheck` checks.
  typescript: { tsconfigPath: "tsconfig.web.json" },
};

export default config;
