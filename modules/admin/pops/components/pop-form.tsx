"use client";

import { useActionState } from "react";
import type { PopView } from "@/server/repositories/pops/repository.ts";
import { Field } from "../../../core/components/field.tsx";
import { FormMessage, SubmitButton } from "../../../core/components/form-status.tsx";
import { IDLE, typed } from "../../../core/lib/form-state.ts";
import { addPop, editPop } from "../actions.ts";

/** Adds a POP, or (with `pop`) changes where its clients and the web app reach it. */
export function PopForm({ pop }: { pop?: PopView }) {
  const [state, action] = useActionState(pop ? editPop : addPop, IDLE);
  const errors = state.fieldErrors ?? {};
  const failed = state.status === "error";
  const value = (name: string, current: string | null | undefined) => (failed ? typed(state, name) : (current ?? ""));
  return (
    <form action={action} className="form" key={!pop && state.status === "ok" ? state.message : "form"} aria-label={pop ? `POP ${pop.name}` : "Add POP"}>
      <FormMessage state={state} />
      {pop ? (
        <input type="hidden" name="name" value={pop.name} />
      ) : (
        <Field name="name" label="Name" required autoComplete="off" placeholder="paris" defaultValue={typed(state, "name")} error={errors.name} hint="What dtcps --pop names it: lowercase letters, digits and '-'." />
      )}
      <Field
        name="publicHost"
        label="Clients connect to"
        autoComplete="off"
        placeholder="paris.tunnel.example.net"
        defaultValue={value("publicHost", pop?.publicHost)}
        error={errors.publicHost}
        hint="Its public IPv4 address or host name, for its users' dtcpc.auth and command lines. Empty: the broker's server name (Settings)."
      />
      <Field
        name="apiUrl"
        label="Live-session API"
        autoComplete="off"
        placeholder="https://paris.tunnel.example.net:8443"
        defaultValue={value("apiUrl", pop?.apiUrl)}
        error={errors.apiUrl}
        hint="Where this web app reaches its daemon (dtcps --api-listen, with --api-tls-cert across hosts). Empty: the daemon beside this web app."
      />
      <div className="actions">
        <SubmitButton>{pop ? "Save" : "Add POP"}</SubmitButton>
      </div>
    </form>
  );
}
