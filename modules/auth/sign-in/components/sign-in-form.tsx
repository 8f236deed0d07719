"use client";

import { useActionState } from "react";
import { Field } from "../../../core/components/field.tsx";
import { FormMessage, SubmitButton } from "../../../core/components/form-status.tsx";
import { IDLE, typed } from "../../../core/lib/form-state.ts";
import { signIn } from "../actions.ts";

export function SignInForm({ name }: { name?: string | undefined }) {
  const [state, action] = useActionState(signIn, IDLE);
  return (
    <form action={action} className="form">
      <FormMessage state={state} />
      <Field name="name" label="User name" autoComplete="username" required defaultValue={typed(state, "name") ?? name} error={state.fieldErrors?.name} />
      <Field name="password" label="Password" type="password" autoComplete="current-password" required error={state.fieldErrors?.password} />
      <SubmitButton>Sign in</SubmitButton>
    </form>
  );
}
