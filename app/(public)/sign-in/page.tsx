import { redirect } from "next/navigation";
import { getAuth } from "@/modules/auth/session/lib/context.ts";
import { SignInForm } from "@/modules/auth/sign-in/components/sign-in-form.tsx";

export const metadata = { title: "Sign in" };

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ name?: string | string[]; expired?: string | string[]; created?: string | string[] }> }) {
  if (await getAuth()) redirect("/");
  const { name, expired, created } = await searchParams;
  const typedName = typeof name === "string" ? name : undefined;
  return (
    <>
      <h1>Sign in</h1>
      {expired ? (
        <div className="notice notice-error" role="status" style={{ marginBottom: "1rem" }}>
          <p>The two-factor step ended (too many wrong codes, or it took too long). Sign in again.</p>
        </div>
      ) : null}
      {created && typedName ? (
        <div className="notice notice-ok" role="status" data-created>
          <p>The administrator {typedName} is created. Sign in with the password you chose.</p>
        </div>
      ) : null}
      <SignInForm name={typedName} />
    </>
  );
}
