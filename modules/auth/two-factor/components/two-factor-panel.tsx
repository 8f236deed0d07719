"use client";

import { useActionState } from "react";
import { ConfirmSubmit } from "../../../core/components/confirm-submit.tsx";
import { Field } from "../../../core/components/field.tsx";
import { FormMessage, SubmitButton } from "../../../core/components/form-status.tsx";
import { IDLE, type FormState } from "../../../core/lib/form-state.ts";
import { beginTotp, cancelTotp, confirmTotp, disableTotp } from "../actions.ts";

export interface TwoFactorView {
  enabled: boolean;
  /** ISO time. */
  enabledAt: string | null;
  recoveryCodesLeft: number;
  /** An enrolment in progress. */
  enrolment: { qrDataUrl: string; secret: string; groupedSecret: string } | null;
}

/** Set up, confirm and turn off TOTP. Kept mounted across refreshes so the recovery codes stay on screen. */
export function TwoFactorPanel({ view, canDisable = true, continueHref }: { view: TwoFactorView; canDisable?: boolean; continueHref?: string }) {
  const [beginState, begin] = useActionState(beginTotp, IDLE);
  const [confirmState, confirm] = useActionState(confirmTotp, IDLE);
  const [cancelState, cancel] = useActionState(cancelTotp, IDLE);
  const [disableState, disable] = useActionState(disableTotp, IDLE);
  const codes = confirmState.status === "ok" ? (confirmState.reveal?.[0]?.value.split(" ") ?? []) : [];

  if (view.enabled) {
    return (
      <div className="form" data-totp="on">
        {codes.length > 0 ? (
          <div className="notice notice-ok" role="status">
            <p>{confirmState.message}</p>
            <ol className="recovery-codes" data-recovery-codes>
              {codes.map((c) => (
                <li key={c}>
                  <code>{c}</code>
                </li>
              ))}
            </ol>
            <p className="hint">Shown only now.</p>
          </div>
        ) : (
          <Outcome state={disableState} />
        )}
        <p>
          Two-factor sign-in is <strong>on</strong>
          {view.enabledAt ? ` since ${view.enabledAt.slice(0, 10)}` : ""}. {view.recoveryCodesLeft} of 10 recovery codes left.
        </p>
        {continueHref ? (
          <p>
            <a className="button" href={continueHref}>
              Continue
            </a>
          </p>
        ) : null}
        {canDisable ? (
          <form action={disable} className="form" aria-label="Turn off two-factor sign-in">
            <Field
              name="proof"
              label="Current code or password"
              type="password"
              autoComplete="off"
              error={disableState.fieldErrors?.proof}
              hint="Needed to turn two-factor sign-in off."
            />
            <div className="actions">
              <ConfirmSubmit label="Turn off two-factor sign-in" question="Sign in with the password alone from now on?" confirmLabel="Yes, turn it off" />
            </div>
          </form>
        ) : null}
      </div>
    );
  }

  if (view.enrolment) {
    const { qrDataUrl, secret, groupedSecret } = view.enrolment;
    return (
      <div className="form" data-totp="pending">
        <Outcome state={confirmState.status === "error" ? confirmState : beginState} />
        <p>1. Scan this with an authenticator app (any that supports TOTP, e.g. FreeOTP, Aegis, Google Authenticator):</p>
        {/* A data: URL made on the server; no image service is involved. */}
        <img className="qr" src={qrDataUrl} alt="QR code of the two-factor secret" width={192} height={192} />
        <p>
          Or type the key in by hand: <code data-secret="TOTP secret" data-value={secret}>{groupedSecret}</code>
        </p>
        <form action={confirm} className="form" aria-label="Confirm two-factor set-up">
          <Field name="code" label="2. Code from the app" autoComplete="one-time-code" inputMode="numeric" required error={confirmState.fieldErrors?.code} />
          <div className="actions">
            <SubmitButton>Turn on two-factor sign-in</SubmitButton>
          </div>
        </form>
        <form action={cancel}>
          <Outcome state={cancelState.status === "error" ? cancelState : IDLE} />
          <button type="submit" className="button button-quiet">
            Cancel set-up
          </button>
        </form>
      </div>
    );
  }

  return (
    <form action={begin} className="form" data-totp="off" aria-label="Set up two-factor sign-in">
      <Outcome state={disableState.status === "ok" || cancelState.status === "ok" ? (disableState.status === "ok" ? disableState : cancelState) : beginState} />
      <p>
        Two-factor sign-in is <strong>off</strong>. With it on, signing in needs a code from an authenticator app on your phone as well as your password.
      </p>
      <div className="actions">
        <SubmitButton>Set up two-factor sign-in</SubmitButton>
      </div>
    </form>
  );
}

function Outcome({ state }: { state: FormState }) {
  return <FormMessage state={state} />;
}
