// Plain JavaScript: Next loads a TypeScript config through a transpiler and says so at every start.
/** @type {import("next").NextConfig} */
const config = {
  // Native modules and Prisma's generated client stay plain Node requires, not bundled.
  serverExternalPackages: ["better-sqlite3", "argon2", "@prisma/adapter-better-sqlite3", "@prisma/adapter-pg", "pg", "@prisma/client"],
  poweredByHeader: false,
  // Next rewrites the tsconfig it uses; this one, not the root tsconfig.json that `npm run typecheck` checks.
  typescript: { tsconfigPath: "tsconfig.web.json" },
};

export default config;
