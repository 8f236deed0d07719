import { redirect } from "next/navigation";
import { getAuth } from "@/modules/auth/session/lib/context.ts";
import { SignInForm } from "@/modules/auth/sign-in/components/sign-in-form.tsx";

export const metadata = { title: "Sign in" };

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ name?: string | string[]; expired?: string | string[] }> }) {
  if (await getAuth()) redirect("/");
  const { name, expired } = await searchParams;
  return (
    <>
      <h1>Sign in</h1>
      {expired ? (
        <div className="notice notice-error" role="status" style={{ marginBottom: "1rem" }}>
          <p>The two-factor step ended (too many wrong codes, or it took too long). Sign in again.</p>
        </div>
      ) : null}
      <SignInForm name={typeof name === "string" ? name : undefined} />
    </>
  );
}
