import { NextResponse } from "next/server";
import { getAuth } from "@/modules/auth/session/lib/context.ts";
import { liveToken } from "@/modules/core/lib/live-token.ts";

export const dynamic = "force-dynamic";

const NO_STORE = { "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" };

/**
 * A token for opening the live-session WebSocket (/api/live) as the signed-in user: 60 s, role from
 * the database. Browsers fetch one before every connection attempt.
 */
export async function GET() {
  const auth = await getAuth();
  if (!auth) return NextResponse.json({ error: "not signed in" }, { status: 401, headers: NO_STORE });
  if (auth.mustEnrolTotp) return NextResponse.json({ error: "set up two-factor sign-in first" }, { status: 403, headers: NO_STORE });
  return NextResponse.json(liveToken(auth.user, auth.sessionId), { headers: NO_STORE });
}
