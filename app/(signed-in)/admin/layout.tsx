import type { ReactNode } from "react";
import { requireAdmin } from "@/modules/auth/session/lib/context.ts";

export default async function AdminLayout({ children }: { children: ReactNode }) {
  await requireAdmin();
  return children;
}
