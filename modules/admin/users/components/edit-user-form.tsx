"use client";

import { TRANSPORTS, TUNNEL_TYPES } from "@/server/domain/types.ts";
import { useActionState } from "react";
import type { UserView } from "@/server/repositories/users/repository.ts";
import { Choices, Field } from "../../../core/components/field.tsx";
import { FormMessage, SubmitButton } from "../../../core/components/form-status.tsx";
import { IDLE, typed, type FormState } from "../../../core/lib/form-state.ts";
import { editUser } from "../actions.ts";

/** After a refusal the boxes show what was sent, else what the user has. */
function shown(state: FormState, name: string, current: readonly string[]): readonly string[] {
  if (state.status !== "error") return current;
  const value = state.values?.[name];
  return value === undefined ? [] : typeof value === "string" ? [value] : value;
}

/** An existing user's e-mail, tunnel types, transports and MTU. */
export function EditUserForm({ user }: { user: UserView }) {
  const [state, action] = useActionState(editUser, IDLE);
  const errors = state.fieldErrors ?? {};
  const failed = state.status === "error";
  return (
    <form action={action} className="form" aria-label="Tunnel settings">
      <FormMessage state={state} />
      <input type="hidden" name="name" value={user.name} />
      <Field name="email" label="E-mail (optional)" type="email" defaultValue={failed ? typed(state, "email") : (user.email ?? "")} error={errors.email} />
      <Choices name="allowedTypes" legend="Tunnel types" options={TUNNEL_TYPES} checked={shown(state, "allowedTypes", user.allowedTypes)} error={errors.allowedTypes} />
      <Choices name="allowedTransports" legend="Transports" options={TRANSPORTS} checked={shown(state, "allowedTransports", user.allowedTransports)} error={errors.allowedTransports} />
      <Field name="mtu" label="MTU" type="number" min={1280} max={1480} required defaultValue={failed ? typed(state, "mtu") : String(user.mtu)} error={errors.mtu} hint="Applies from the next login; a live session keeps its own." />
      <SubmitButton>Save settings</SubmitButton>
    </form>
  );
}
