// What the web app checks before it opens anything to a POP for a browser's live view: the token
// (signature, expiry), that it was minted for the POP asked for, that the sign-in behind it still
// stands, and that the POP is reached safely. A visitor without all of that gets an HTTP refusal
// from the web app, and no byte of theirs reaches a daemon.
import type { IncomingMessage } from "node:http";
import { tokenOf, type ViewerStanding } from "../api/server.ts";
import { verifyToken } from "../api/token.ts";
import type { ProxyTarget } from "./live-proxy.ts";
import { popOfRequest } from "./pop-targets.ts";

export interface LiveGateDeps {
  /** Keys a token may be signed with: the current one first. */
  keys: readonly Buffer[];
  standing: ViewerStanding;
  /** Where a POP's API is: undefined when there is no such POP; a string says why it may not be reached. */
  target(pop: string): Promise<ProxyTarget | string | undefined>;
  now?: () => number;
}

export type GateVerdict = { ok: true; pop: string; role: "admin" | "user"; target: ProxyTarget } | { ok: false; status: number; why: string };

export async function gateLiveUpgrade(req: IncomingMessage, deps: LiveGateDeps): Promise<GateVerdict> {
  const token = tokenOf(req.headers["sec-websocket-protocol"]);
  if (token === null) return { ok: false, status: 401, why: "no token" };
  const at = Math.floor((deps.now ?? Date.now)() / 1000);
  const checks = deps.keys.map((key) => verifyToken(key, token, at));
  const check = checks.find((c) => c.ok) ?? checks[0];
  if (check === undefined || !check.ok) return { ok: false, status: 401, why: `token ${check?.reason ?? "unchecked"}` };
  const { claims } = check;
  const pop = popOfRequest(req) ?? claims.pop;
  if (pop !== claims.pop) return { ok: false, status: 403, why: `a token for the POP ${claims.pop} used for ${pop}` };
  const current = (await deps.standing([claims.sid])).get(claims.sid);
  if (current === undefined || current.name !== claims.sub || (current.role !== claims.role && claims.role !== "user")) {
    return { ok: false, status: 401, why: `the sign-in of ${claims.sub} behind the token has ended` };
  }
  const target = await deps.target(pop);
  if (target === undefined) return { ok: false, status: 404, why: `no POP ${pop}` };
  if (typeof target === "string") return { ok: false, status: 502, why: target };
  return { ok: true, pop, role: claims.role, target };
}
