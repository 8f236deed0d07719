import { redirect } from "next/navigation";
import { requireUser } from "@/modules/auth/session/lib/context.ts";

export default async function Home() {
  const { user } = await requireUser();
  redirect(user.role === "admin" ? "/admin/users" : "/tunnel");
}
