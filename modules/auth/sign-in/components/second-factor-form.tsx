"use client";

import { useActionState } from "react";
import { Field } from "../../../core/components/field.tsx";
import { FormMessage, SubmitButton } from "../../../core/components/form-status.tsx";
import { IDLE } from "../../../core/lib/form-state.ts";
import { verifySecondFactor } from "../actions.ts";

export function SecondFactorForm() {
  const [state, action] = useActionState(verifySecondFactor, IDLE);
  return (
    <form action={action} className="form" aria-label="Two-factor code">
      <FormMessage state={state} />
      <Field
        name="code"
        label="Code"
        autoComplete="one-time-code"
        inputMode="text"
        autoFocus
        required
        error={state.fieldErrors?.code}
        hint="The 6 digits your authenticator app shows now, or one of your recovery codes."
      />
      <SubmitButton>Continue</SubmitButton>
    </form>
  );
}
