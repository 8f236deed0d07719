import Link from "next/link";
import { notFound } from "next/navigation";
import { requireAdmin } from "@/modules/auth/session/lib/context.ts";
import { resetUserTotp } from "@/modules/admin/settings/actions.ts";
import { MoveUserForm } from "@/modules/admin/users/components/move-user-form.tsx";
import { UserActions } from "@/modules/admin/users/components/user-actions.tsx";
import { ActionForm } from "@/modules/core/components/action-form.tsx";
import { ConfirmSubmit } from "@/modules/core/components/confirm-submit.tsx";
import { DomainError } from "@/server/domain/errors.ts";

export const metadata = { title: "User" };

export default async function UserPage({ params }: { params: Promise<{ name: string }> }) {
  const auth = await requireAdmin();
  const name = decodeURIComponent((await params).name);
  const user = await auth.broker.users.get(name).catch((err: unknown) => {
    if (err instanceof DomainError) notFound();
    throw err;
  });
  const [delegations, pair, twoFactor, pops] = await Promise.all([
    auth.broker.allocations.list(user.name),
    auth.broker.allocations.linkPair(user.id),
    auth.broker.twoFactor.status(user.id),
    auth.broker.pops.list(),
  ]);
  return (
    <>
      <p>
        <Link href="/admin/users">← Users</Link>
      </p>
      <h1>{user.name}</h1>
      <section className="panel">
        <dl className="facts">
          <dt>Role</dt>
          <dd>{user.role}</dd>
          <dt>Status</dt>
          <dd>{user.disabled ? "disabled" : "active"}</dd>
          {pops.length > 1 ? (
            <>
              <dt>POP</dt>
              <dd>{user.pop}</dd>
            </>
          ) : null}
          <dt>E-mail</dt>
          <dd>{user.email ?? "—"}</dd>
          <dt>Tunnel types</dt>
          <dd>{user.allowedTypes.join(", ")}</dd>
          <dt>Transports</dt>
          <dd>{user.allowedTransports.join(", ")}</dd>
          <dt>MTU</dt>
          <dd>{user.mtu}</dd>
          <dt>Web password</dt>
          <dd>{user.hasWebPassword ? "set" : "not set: cannot sign in"}</dd>
          <dt>Two-factor sign-in</dt>
          <dd>{twoFactor.enabled ? `on (${twoFactor.recoveryCodesLeft} recovery codes left)` : "off"}</dd>
          <dt>Address pair</dt>
          <dd>{pair ? `${pair.clientAddress} (server ${pair.serverAddress})` : "none yet (allocated at the first host tunnel)"}</dd>
          <dt>Delegated prefixes</dt>
          <dd>{delegations.length ? delegations.map((d) => d.prefix).join(", ") : "none"}</dd>
        </dl>
      </section>
      <UserActions user={user} self={user.name === auth.user.name} />
      {pops.length > 1 ? (
        <section className="panel">
          <h2>POP</h2>
          <MoveUserForm name={user.name} current={user.pop} pops={pops.map((p) => p.name)} />
        </section>
      ) : null}
      {twoFactor.enabled && user.name !== auth.user.name ? (
        <section className="panel">
          <h2>Two-factor sign-in</h2>
          <ActionForm action={resetUserTotp}>
            <input type="hidden" name="name" value={user.name} />
            <p className="hint">For a user who lost their authenticator and their recovery codes: their password alone signs in again until they set it up anew.</p>
            <div className="actions">
              <ConfirmSubmit label="Turn off two-factor sign-in" question={`Turn off two-factor sign-in for ${user.name}?`} confirmLabel="Yes, turn it off" />
            </div>
          </ActionForm>
        </section>
      ) : null}
    </>
  );
}
