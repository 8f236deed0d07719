"use client";

import { useActionState } from "react";
import { Field } from "../../../core/components/field.tsx";
import { FormMessage, SubmitButton } from "../../../core/components/form-status.tsx";
import { IDLE, typed } from "../../../core/lib/form-state.ts";
import { completeSetup } from "../actions.ts";

export function SetupForm({ token }: { token: string }) {
  const [state, action] = useActionState(completeSetup, IDLE);
  return (
    <form action={action} className="form">
      <FormMessage state={state} />
      <input type="hidden" name="token" value={token} />
      <Field name="name" label="Administrator name" autoComplete="username" required defaultValue={typed(state, "name")} error={state.fieldErrors?.name} hint="Also the DTCP user name: lowercase letters, digits, '.', '_' or '-'." />
      <Field name="webPassword" label="Password" type="password" autoComplete="new-password" required error={state.fieldErrors?.webPassword} hint="At least 12 characters." />
      <Field name="confirmPassword" label="Password again" type="password" autoComplete="new-password" required error={state.fieldErrors?.confirmPassword} />
      <SubmitButton>Create administrator</SubmitButton>
    </form>
  );
}
