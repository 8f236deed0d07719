import Link from "next/link";
import { redirect } from "next/navigation";
import { getAuth, pendingCookie } from "@/modules/auth/session/lib/context.ts";
import { SecondFactorForm } from "@/modules/auth/sign-in/components/second-factor-form.tsx";
import { broker } from "@/modules/core/lib/broker.ts";

export const metadata = { title: "Two-factor sign-in" };
export const dynamic = "force-dynamic";

export default async function SecondFactorPage() {
  if (await getAuth()) redirect("/");
  const token = await pendingCookie();
  const pending = token ? await (await broker()).webSessions.findPending(token) : null;
  if (!pending) redirect("/sign-in");
  return (
    <>
      <h1>Two-factor sign-in</h1>
      <p>
        Signing in as <strong>{pending.user.name}</strong>.
      </p>
      <SecondFactorForm />
      <p className="hint" style={{ marginTop: "1rem" }}>
        <Link href="/sign-in">Start again</Link>
      </p>
    </>
  );
}
