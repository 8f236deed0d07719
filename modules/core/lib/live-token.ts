import { loadOrCreateApiKey, mintToken } from "@/server/api/token.ts";
import { resolvePaths } from "@/server/config.ts";

const holder = globalThis as typeof globalThis & { brokerApiKey?: Buffer };

/** A fresh 60-second token for one POP's live-session API, for a user as the database knows them. */
export function liveToken(user: { name: string; role: string }, webSessionId: string, pop: string): { token: string; expiresAt: number } {
  // The launcher creates the key before the web app starts; a web app started alone creates it.
  holder.brokerApiKey ??= loadOrCreateApiKey(resolvePaths().apiKeyFile);
  const token = mintToken(holder.brokerApiKey, { sub: user.name, role: user.role === "admin" ? "admin" : "user", sid: webSessionId, pop });
  return { token, expiresAt: Date.now() + 60_000 };
}
