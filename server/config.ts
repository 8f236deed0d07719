import { resolve } from "node:path";

/** Where the broker keeps its state; every entry point (daemon, CLI, web app) resolves it the same way. */
export interface Paths {
  dataDir: string;
  databaseUrl: string;
  secretKeyFile: string;
  /** During a rotation, the key sealed secrets may still be under (BROKER_PREVIOUS_SECRET_KEY_FILE); opened with, never sealed with. */
  previousSecretKeyFile: string | null;
  /** HMAC key of the live-session API tokens: the web app mints them, the daemon checks them. */
  apiKeyFile: string;
  /** During a rotation, the key tokens may still be signed with (BROKER_PREVIOUS_API_KEY_FILE); checked against, never signed with. */
  previousApiKeyFile: string | null;
}

export function resolvePaths(env: NodeJS.ProcessEnv = process.env): Paths {
  const dataDir = resolve(/*turbopackIgnore: true*/ env.BROKER_DATA_DIR ?? "data");
  return {
    dataDir,
    databaseUrl: env.DATABASE_URL ?? `file:${resolve(dataDir, "broker.db")}`,
    secretKeyFile: resolve(/*turbopackIgnore: true*/ env.BROKER_SECRET_KEY_FILE ?? resolve(dataDir, "secret.key")),
    apiKeyFile: resolve(/*turbopackIgnore: true*/ env.BROKER_API_KEY_FILE ?? resolve(dataDir, "api.key")),
    previousSecretKeyFile: env.BROKER_PREVIOUS_SECRET_KEY_FILE ? resolve(/*turbopackIgnore: true*/ env.BROKER_PREVIOUS_SECRET_KEY_FILE) : null,
    previousApiKeyFile: env.BROKER_PREVIOUS_API_KEY_FILE ? resolve(/*turbopackIgnore: true*/ env.BROKER_PREVIOUS_API_KEY_FILE) : null,
  };
}
