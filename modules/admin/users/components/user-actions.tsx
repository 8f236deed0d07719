import type { UserView } from "@/server/repositories/users/repository.ts";
import { ActionForm } from "../../../core/components/action-form.tsx";
import { ConfirmSubmit } from "../../../core/components/confirm-submit.tsx";
import { SubmitButton } from "../../../core/components/form-status.tsx";
import { removeUser, rotateTunnelPassword, setUserDisabled } from "../actions.ts";
import { EditUserForm } from "./edit-user-form.tsx";
import { ResetWebPasswordForm } from "./reset-web-password-form.tsx";

/** Everything an administrator can do to one user. */
export function UserActions({ user, self }: { user: UserView; self: boolean }) {
  return (
    <div className="grid-2">
      <section className="panel">
        <h2>Access</h2>
        <ActionForm action={setUserDisabled.bind(null, !user.disabled)}>
          <input type="hidden" name="name" value={user.name} />
          <p className="hint">{user.disabled ? "Disabled: no DTCP logins, no web sign-in." : "Disabling refuses new DTCP logins and signs the user out of the web app."}</p>
          <div className="actions">
            {self ? <p className="hint">This is your own account.</p> : <SubmitButton className="button button-quiet">{user.disabled ? "Enable" : "Disable"}</SubmitButton>}
          </div>
        </ActionForm>
        <h2>DTCP password</h2>
        <ActionForm action={rotateTunnelPassword}>
          <input type="hidden" name="name" value={user.name} />
          <p className="hint">A new generated password, shown once. A live session that logged in with the old one ends at once.</p>
          <div className="actions">
            <ConfirmSubmit label="Rotate DTCP password" question={`Replace the DTCP password of ${user.name}? Their clients need the new one.`} confirmLabel="Yes, rotate" />
          </div>
        </ActionForm>
      </section>
      <section className="panel">
        <h2>Tunnel settings</h2>
        <EditUserForm user={user} />
      </section>
      <section className="panel">
        <h2>Web password</h2>
        <ResetWebPasswordForm name={user.name} />
        {self ? null : (
          <>
            <h2>Remove</h2>
            <ActionForm action={removeUser}>
              <input type="hidden" name="name" value={user.name} />
              <p className="hint">Removes the user with their delegations, address pair and session history.</p>
              <div className="actions">
                <ConfirmSubmit label="Remove user" question={`Remove ${user.name} for good?`} confirmLabel="Yes, remove" />
              </div>
            </ActionForm>
          </>
        )}
      </section>
    </div>
  );
}
