import { NextResponse, type NextRequest } from "next/server";
import { getAuth } from "@/modules/auth/session/lib/context.ts";
import { liveToken } from "@/modules/core/lib/live-token.ts";
import { popNameSchema } from "@/server/repositories/pops/schema.ts";

export const dynamic = "force-dynamic";

const NO_STORE = { "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" };

/**
 * A token for opening one POP's live-session WebSocket (/api/live?pop=<name>) as the signed-in
 * user: 60 s, role from the database, good at that POP's daemon only. Browsers fetch one before
 * every connection attempt.
 */
export async function GET(request: NextRequest) {
  const auth = await getAuth();
  if (!auth) return NextResponse.json({ error: "not signed in" }, { status: 401, headers: NO_STORE });
  if (auth.mustEnrolTotp) return NextResponse.json({ error: "set up two-factor sign-in first" }, { status: 403, headers: NO_STORE });
  const pop = popNameSchema.safeParse(request.nextUrl.searchParams.get("pop") ?? "");
  if (!pop.success) return NextResponse.json({ error: "name the POP: /api/live-token?pop=<name>" }, { status: 400, headers: NO_STORE });
  return NextResponse.json(liveToken(auth.user, auth.sessionId, pop.data), { headers: NO_STORE });
}
