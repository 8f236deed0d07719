import { redirect } from "next/navigation";
import { getAuth } from "@/modules/auth/session/lib/context.ts";
import { SignInForm } from "@/modules/auth/sign-in/components/sign-in-form.tsx";

export const metadata = { title: "Sign in" };

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ name?: string | string[] }> }) {
  if (await getAuth()) redirect("/");
  const { name } = await searchParams;
  return (
    <>
      <h1>Sign in</h1>
      <SignInForm name={typeof name === "string" ? name : undefined} />
    </>
  );
}
