import { requireUser } from "@/modules/auth/session/lib/context.ts";
import { TwoFactorSection } from "@/modules/auth/two-factor/components/two-factor-section.tsx";
import { signOutEverywhere } from "@/modules/auth/sign-out/actions.ts";
import { ConfirmSubmit } from "@/modules/core/components/confirm-submit.tsx";
import { ChangePasswordForm } from "@/modules/portal/account/components/change-password-form.tsx";

export const metadata = { title: "Account" };

const when = (d: Date) => `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;

export default async function AccountPage() {
  const auth = await requireUser();
  const { broker, user, sessionId } = auth;
  const sessions = await broker.webSessions.signedIn(user.id);
  return (
    <>
      <h1>Account</h1>
      <div className="grid-2">
        <section className="panel">
          <h2>Web password</h2>
          <ChangePasswordForm />
        </section>
        <section className="panel" aria-label="Two-factor sign-in">
          <h2>Two-factor sign-in</h2>
          <TwoFactorSection auth={auth} />
        </section>
        <section className="panel">
          <h2>Signed-in browsers</h2>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Browser</th>
                  <th>Signed in</th>
                  <th>Last seen</th>
                </tr>
              </thead>
              <tbody>
                {sessions.map((s) => (
                  <tr key={s.id}>
                    <td>
                      {s.userAgent ?? "unknown"}
                      {s.id === sessionId ? <span className="badge"> this one</span> : null}
                    </td>
                    <td className="nowrap">{when(s.createdAt)}</td>
                    <td className="nowrap">{when(s.lastSeenAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <form action={signOutEverywhere} className="actions" style={{ marginTop: "1rem" }}>
            <ConfirmSubmit label="Sign out everywhere" question="Sign out every browser, this one too?" confirmLabel="Yes, sign out everywhere" />
          </form>
        </section>
      </div>
    </>
  );
}
