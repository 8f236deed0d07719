import { NextResponse, type NextRequest } from "next/server";
import { ENROL_PATH, getAuth } from "@/modules/auth/session/lib/context.ts";
import { authFileLine } from "@/modules/portal/my-tunnel/lib/commands.ts";
import { seeOther } from "@/modules/core/lib/request.ts";
import { dtcpServer } from "@/modules/portal/my-tunnel/lib/server-address.ts";

const FILES = new Set(["dtcpc.auth", "dtcpclient.auth"]);

/** The signed-in user's own password file; there is no way to ask for anyone else's. */
export async function GET(_request: NextRequest, { params }: { params: Promise<{ file: string }> }) {
  const { file } = await params;
  if (!FILES.has(file)) return new NextResponse("Not found\n", { status: 404 });
  const auth = await getAuth();
  if (!auth) return seeOther("/sign-in");
  if (auth.mustEnrolTotp) return seeOther(ENROL_PATH);
  const [password, user] = await Promise.all([auth.broker.users.tunnelPassword(auth.user.name), auth.broker.users.get(auth.user.name)]);
  const server = await dtcpServer(user.pop);
  return new NextResponse(authFileLine(server.host, auth.user.name, password), {
    headers: {
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Disposition": `attachment; filename="${file}"`,
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
    },
  });
}
