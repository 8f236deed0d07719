"use client";

import { useActionState } from "react";
import { Field } from "../../../core/components/field.tsx";
import { FormMessage, SubmitButton } from "../../../core/components/form-status.tsx";
import { IDLE } from "../../../core/lib/form-state.ts";
import { savePublicHost } from "../actions.ts";

/** The name clients connect to; `suggestion` prefills it while none is set. */
export function PublicHostForm({ current, suggestion, fromEnvironment }: { current: string; suggestion: string; fromEnvironment: string | null }) {
  const [state, action] = useActionState(savePublicHost, IDLE);
  const value = typeof state.values?.publicHost === "string" ? state.values.publicHost : current || suggestion;
  return (
    <form action={action} className="form" aria-label="Server name">
      <FormMessage state={state} />
      <Field
        name="publicHost"
        label="Clients connect to"
        defaultValue={value}
        key={value}
        error={state.fieldErrors?.publicHost}
        hint={
          fromEnvironment
            ? `BROKER_PUBLIC_HOST=${fromEnvironment} is set and takes precedence.`
            : "The host name or IPv4 address of the broker as clients on the internet reach it: it goes into dtcpc.auth and every command line users see."
        }
      />
      <div className="actions">
        <SubmitButton>Save server name</SubmitButton>
      </div>
    </form>
  );
}
