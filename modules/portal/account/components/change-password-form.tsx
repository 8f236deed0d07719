"use client";

import { useActionState } from "react";
import { Field } from "../../../core/components/field.tsx";
import { FormMessage, SubmitButton } from "../../../core/components/form-status.tsx";
import { IDLE } from "../../../core/lib/form-state.ts";
import { changeWebPassword } from "../actions.ts";

export function ChangePasswordForm() {
  const [state, action] = useActionState(changeWebPassword, IDLE);
  const errors = state.fieldErrors ?? {};
  return (
    <form action={action} className="form" aria-label="Change web password">
      <FormMessage state={state} />
      <Field name="currentPassword" label="Current password" type="password" autoComplete="current-password" required error={errors.currentPassword} />
      <Field name="webPassword" label="New password" type="password" autoComplete="new-password" required error={errors.webPassword} hint="At least 12 characters." />
      <Field name="confirmPassword" label="New password again" type="password" autoComplete="new-password" required error={errors.confirmPassword} />
      <SubmitButton>Change password</SubmitButton>
    </form>
  );
}
