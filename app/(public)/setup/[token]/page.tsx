import { broker } from "@/modules/core/lib/broker.ts";
import { SetupForm } from "@/modules/auth/setup/components/setup-form.tsx";

export const metadata = { title: "Set up" };

export default async function SetupPage({ params }: { params: Promise<{ token: string }> }) {
  const { token } = await params;
  if (!(await (await broker()).setup.usable(token))) {
    return (
      <>
        <h1>Set-up link not valid</h1>
        <p>This link was used already, has expired, or an administrator exists. Restart the broker to print a new one if no administrator exists yet.</p>
      </>
    );
  }
  return (
    <>
      <h1>Create the administrator</h1>
      <p>Choose the name and password of the first administrator. The link works once.</p>
      <SetupForm token={token} />
    </>
  );
}
