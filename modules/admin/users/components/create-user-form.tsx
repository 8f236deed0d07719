"use client";

import { TRANSPORTS, TUNNEL_TYPES } from "@/server/domain/types.ts";
import { useActionState } from "react";
import { Choices, Field, Select } from "../../../core/components/field.tsx";
import { FormMessage, SubmitButton } from "../../../core/components/form-status.tsx";
import { IDLE, typed, type FormState } from "../../../core/lib/form-state.ts";
import { createUser } from "../actions.ts";

function picked(state: FormState, name: string, fallback: readonly string[]): readonly string[] {
  const value = state.status === "error" ? state.values?.[name] : undefined;
  if (value === undefined) return state.status === "error" ? [] : fallback;
  return typeof value === "string" ? [value] : value;
}

/** `pops`: the POPs to choose from, shown when there is more than one. */
export function CreateUserForm({ pops }: { pops: readonly string[] }) {
  const [state, action] = useActionState(createUser, IDLE);
  const errors = state.fieldErrors ?? {};
  // A new key after each success empties the form for the next user.
  return (
    <form action={action} className="form" key={state.status === "ok" ? state.message : "form"} aria-label="Create user">
      <FormMessage state={state} />
      <Field name="name" label="User name" required autoComplete="off" defaultValue={typed(state, "name")} error={errors.name} hint="Also the DTCP user name." />
      <Field name="email" label="E-mail (optional)" type="email" defaultValue={typed(state, "email")} error={errors.email} />
      <Choices name="role" legend="Role" type="radio" options={["user", "admin"]} checked={picked(state, "role", ["user"])} error={errors.role} />
      <Choices name="allowedTypes" legend="Tunnel types" options={TUNNEL_TYPES} checked={picked(state, "allowedTypes", TUNNEL_TYPES)} error={errors.allowedTypes} />
      <Choices name="allowedTransports" legend="Transports" options={TRANSPORTS} checked={picked(state, "allowedTransports", TRANSPORTS)} error={errors.allowedTransports} />
      <Field name="mtu" label="MTU" type="number" min={1280} max={1480} required defaultValue={typed(state, "mtu") ?? "1280"} error={errors.mtu} />
      {pops.length > 1 ? <Select name="pop" label="POP" options={pops} defaultValue={typed(state, "pop")} error={errors.pop} hint="The tunnel server that serves this user: their prefixes come from its pools." /> : null}
      <Field name="webPassword" label="Web password (optional)" type="password" autoComplete="new-password" error={errors.webPassword} hint="Leave empty to generate one, shown once." />
      <SubmitButton>Create user</SubmitButton>
    </form>
  );
}
