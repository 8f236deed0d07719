"use client";

import { useActionState } from "react";
import { Field } from "../../../core/components/field.tsx";
import { FormMessage, SubmitButton } from "../../../core/components/form-status.tsx";
import { IDLE, typed } from "../../../core/lib/form-state.ts";
import { completeSetup } from "../actions.ts";

/** `serverName` prefills the name clients connect to; `serverNameWarning` says why it may not do. */
export function SetupForm({ token, serverName, serverNameWarning }: { token: string; serverName: string; serverNameWarning: string | null }) {
  const [state, action] = useActionState(completeSetup, IDLE);
  return (
    <form action={action} className="form">
      <FormMessage state={state} />
      <input type="hidden" name="token" value={token} />
      <Field name="name" label="Administrator name" autoComplete="username" required defaultValue={typed(state, "name")} error={state.fieldErrors?.name} hint="Also the DTCP user name: lowercase letters, digits, '.', '_' or '-'." />
      <Field name="webPassword" label="Password" type="password" autoComplete="new-password" required error={state.fieldErrors?.webPassword} hint="At least 12 characters." />
      <Field name="confirmPassword" label="Password again" type="password" autoComplete="new-password" required error={state.fieldErrors?.confirmPassword} />
      <Field
        name="publicHost"
        label="Server name"
        defaultValue={typed(state, "publicHost") ?? serverName}
        error={state.fieldErrors?.publicHost}
        hint={`The host name or IPv4 address clients on the internet connect to: it goes into every user's dtcpc.auth and command lines (changed later under Settings).${serverNameWarning ? ` ${serverNameWarning}` : ""}`}
      />
      <SubmitButton>Create administrator</SubmitButton>
    </form>
  );
}
