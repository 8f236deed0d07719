import { resolve } from "node:path";

/** Where the broker keeps its state; every entry point (daemon, CLI, web app) resolves it the same way. */
export interface Paths {
  dataDir: string;
  databaseUrl: string;
  secretKeyFile: string;
  /** HMAC key of the live-session API tokens: the web app mints them, the daemon checks them. */
  apiKeyFile: string;
}

export function resolvePaths(env: NodeJS.ProcessEnv = process.env): Paths {
  const dataDir = resolve(/*turbopackIgnore: true*/ env.BROKER_DATA_DIR ?? "data");
  return {
    dataDir,
    databaseUrl: env.DATABASE_URL ?? `file:${resolve(dataDir, "broker.db")}`,
    secretKeyFile: resolve(/*turbopackIgnore: true*/ env.BROKER_SECRET_KEY_FILE ?? resolve(dataDir, "secret.key")),
    apiKeyFile: resolve(/*turbopackIgnore: true*/ env.BROKER_API_KEY_FILE ?? resolve(dataDir, "api.key")),
  };
}
