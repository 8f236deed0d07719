"use client";

import { useActionState } from "react";
import { FormMessage, SubmitButton } from "../../../core/components/form-status.tsx";
import { IDLE } from "../../../core/lib/form-state.ts";
import { saveSettings } from "../actions.ts";

export function SettingsForm({ requireAdminTotp }: { requireAdminTotp: boolean }) {
  const [state, action] = useActionState(saveSettings, IDLE);
  const error = state.fieldErrors?.requireAdminTotp;
  const checked = state.values ? state.values.requireAdminTotp === "on" : requireAdminTotp;
  return (
    <form action={action} className="form" aria-label="Settings">
      <FormMessage state={state} />
      <div className={error ? "field field-invalid" : "field"}>
        <label className="choice">
          <input type="checkbox" name="requireAdminTotp" defaultChecked={checked} key={String(checked)} aria-describedby={error ? "requireAdminTotp-error" : undefined} />{" "}
          Require two-factor sign-in for administrators
        </label>
        <p className="hint">An administrator without it is sent to set it up before anything else.</p>
        {error ? (
          <p className="field-error" id="requireAdminTotp-error" role="alert" data-field="requireAdminTotp">
            {error}
          </p>
        ) : null}
      </div>
      <div className="actions">
        <SubmitButton>Save settings</SubmitButton>
      </div>
    </form>
  );
}
