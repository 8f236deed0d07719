import Link from "next/link";
import { LiveSessionTable } from "@/modules/admin/sessions/components/live-session-table.tsx";
import { requireAdmin } from "@/modules/auth/session/lib/context.ts";

export const metadata = { title: "Live sessions" };

export default async function LiveSessionsPage() {
  const { broker } = await requireAdmin();
  const pops = (await broker.pops.list()).map((p) => p.name);
  return (
    <>
      <h1>Live sessions</h1>
      <p className="hint">
        Updated as they change. The client address is where the broker sends the tunnel’s packets: for UDP, the NAT binding learned from the client’s
        packets; <span className="badge badge-warn">NAT</span> marks one that differs from what the client said at login.{" "}
        <Link href="/admin/sessions/history">Session history</Link>
      </p>
      <LiveSessionTable pops={pops} />
    </>
  );
}
