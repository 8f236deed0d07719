"use client";

import { useActionState } from "react";
import { Select } from "../../../core/components/field.tsx";
import { ConfirmSubmit } from "../../../core/components/confirm-submit.tsx";
import { FormMessage } from "../../../core/components/form-status.tsx";
import { IDLE } from "../../../core/lib/form-state.ts";
import { moveUser } from "../actions.ts";

/** Moves a user to another POP (shown when there are several). */
export function MoveUserForm({ name, current, pops }: { name: string; current: string; pops: readonly string[] }) {
  const [state, action] = useActionState(moveUser, IDLE);
  return (
    <form action={action} className="form" aria-label="POP">
      <FormMessage state={state} />
      <input type="hidden" name="name" value={name} />
      <Select
        name="pop"
        label="Served by the POP"
        options={pops}
        defaultValue={current}
        error={state.fieldErrors?.pop}
        hint="Moving gives back the user's prefixes and takes new ones from the new POP's pools; a live session on the old POP ends."
      />
      <div className="actions">
        <ConfirmSubmit label="Move" question={`Move ${name} to the chosen POP? Their prefixes change and their client must connect there.`} confirmLabel="Yes, move" />
      </div>
    </form>
  );
}
