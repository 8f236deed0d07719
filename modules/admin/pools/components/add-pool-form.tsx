"use client";

import { useActionState } from "react";
import { Choices, Field, Select } from "../../../core/components/field.tsx";
import { FormMessage, SubmitButton } from "../../../core/components/form-status.tsx";
import { IDLE, typed } from "../../../core/lib/form-state.ts";
import { addPool } from "../actions.ts";

/** `pops`: the POPs to choose from, shown when there is more than one. */
export function AddPoolForm({ pops }: { pops: readonly string[] }) {
  const [state, action] = useActionState(addPool, IDLE);
  const errors = state.fieldErrors ?? {};
  const purpose = typed(state, "purpose");
  return (
    <form action={action} className="form" key={state.status === "ok" ? state.message : "form"} aria-label="Add pool">
      <FormMessage state={state} />
      <Field name="cidr" label="Prefix" placeholder="2001:db8:100::/40" required autoComplete="off" defaultValue={typed(state, "cidr")} error={errors.cidr} />
      <Choices name="purpose" legend="Purpose" type="radio" options={["delegation", "link"]} checked={[purpose ?? "delegation"]} error={errors.purpose} />
      <Field
        name="prefixLength"
        label="Size handed out (prefix length)"
        inputMode="numeric"
        autoComplete="off"
        placeholder="56"
        defaultValue={typed(state, "prefixLength")}
        error={errors.prefixLength}
        hint="Empty: /56 for delegation pools, /126 for link pools (address pairs)."
      />
      {pops.length > 1 ? <Select name="pop" label="POP" options={pops} defaultValue={typed(state, "pop")} error={errors.pop} hint="The tunnel server its prefixes are routed to." /> : null}
      <label className="choice">
        <input type="checkbox" name="autoDelegate" defaultChecked={typed(state, "autoDelegate") === "on"} /> Auto-delegate: a network login without a prefix gets one from this pool
      </label>
      {errors.autoDelegate ? (
        <p className="field-error" role="alert" data-field="autoDelegate">
          {errors.autoDelegate}
        </p>
      ) : null}
      <SubmitButton>Add pool</SubmitButton>
    </form>
  );
}
