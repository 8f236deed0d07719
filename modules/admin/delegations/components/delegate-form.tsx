"use client";

import { useActionState } from "react";
import { FormMessage, SubmitButton } from "../../../core/components/form-status.tsx";
import { IDLE, typed } from "../../../core/lib/form-state.ts";
import { delegatePrefix } from "../actions.ts";

export function DelegateForm({ users, pools }: { users: string[]; pools: { cidr: string; label: string }[] }) {
  const [state, action] = useActionState(delegatePrefix, IDLE);
  const errors = state.fieldErrors ?? {};
  return (
    <form action={action} className="form" aria-label="Delegate a prefix">
      <FormMessage state={state} />
      <div className={errors.user ? "field field-invalid" : "field"}>
        <label htmlFor="delegate-user">User</label>
        <select id="delegate-user" name="user" required defaultValue={typed(state, "user") ?? ""}>
          <option value="" disabled>
            Choose a user
          </option>
          {users.map((name) => (
            <option key={name}>{name}</option>
          ))}
        </select>
        {errors.user ? (
          <p className="field-error" role="alert" data-field="user">
            {errors.user}
          </p>
        ) : null}
      </div>
      <div className={errors.pool ? "field field-invalid" : "field"}>
        <label htmlFor="delegate-pool">Pool</label>
        <select id="delegate-pool" name="pool" defaultValue={typed(state, "pool") ?? ""}>
          <option value="">First delegation pool with room</option>
          {pools.map((pool) => (
            <option key={pool.cidr} value={pool.cidr}>
              {pool.label}
            </option>
          ))}
        </select>
        {errors.pool ? (
          <p className="field-error" role="alert" data-field="pool">
            {errors.pool}
          </p>
        ) : null}
      </div>
      <SubmitButton>Delegate the next free prefix</SubmitButton>
    </form>
  );
}
