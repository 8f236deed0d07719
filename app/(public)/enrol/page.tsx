import { redirect } from "next/navigation";
import { TwoFactorSection } from "@/modules/auth/two-factor/components/two-factor-section.tsx";
import { requireUser } from "@/modules/auth/session/lib/context.ts";
import { signOut } from "@/modules/auth/sign-out/actions.ts";

export const metadata = { title: "Set up two-factor sign-in" };
export const dynamic = "force-dynamic";

/** Where an administrator without TOTP lands while the broker requires it of administrators. */
export default async function EnrolPage() {
  const auth = await requireUser({ enrolling: true });
  if (!auth.mustEnrolTotp && !auth.user.totp) redirect("/account");
  return (
    <>
      <h1>Set up two-factor sign-in</h1>
      {auth.mustEnrolTotp ? <p>This broker requires administrators to sign in with a code from an authenticator app. Set it up to go on.</p> : null}
      <TwoFactorSection auth={auth} continueHref="/" canDisable={false} />
      <form action={signOut} style={{ marginTop: "1.5rem" }}>
        <button type="submit" className="button button-quiet button-small">
          Sign out
        </button>
      </form>
    </>
  );
}
