"use client";

import { useActionState } from "react";
import { Field } from "../../../core/components/field.tsx";
import { FormMessage, SubmitButton } from "../../../core/components/form-status.tsx";
import { IDLE } from "../../../core/lib/form-state.ts";
import { resetWebPassword } from "../actions.ts";

export function ResetWebPasswordForm({ name }: { name: string }) {
  const [state, action] = useActionState(resetWebPassword, IDLE);
  return (
    <form action={action} className="form" aria-label="Reset web password">
      <FormMessage state={state} />
      <input type="hidden" name="name" value={name} />
      <Field name="webPassword" label="New web password" type="password" autoComplete="new-password" error={state.fieldErrors?.webPassword} hint="Leave empty to generate one, shown once. Signs the user out everywhere." />
      <SubmitButton>Set web password</SubmitButton>
    </form>
  );
}
