import type { ReactNode } from "react";
import { requireUser } from "@/modules/auth/session/lib/context.ts";
import { SiteHeader } from "@/modules/core/components/site-header.tsx";

export const dynamic = "force-dynamic";

export default async function SignedInLayout({ children }: { children: ReactNode }) {
  const { user } = await requireUser();
  return (
    <>
      <SiteHeader name={user.name} admin={user.role === "admin"} />
      <main className="page">{children}</main>
    </>
  );
}
