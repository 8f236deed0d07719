"use client";

import { useActionState, type ReactNode } from "react";
import { IDLE, type FormState } from "../lib/form-state.ts";
import { FormMessage } from "./form-status.tsx";

export type FormAction = (prev: FormState, form: FormData) => Promise<FormState>;

/** A form whose outcome is one message (and maybe a secret shown once) above its controls. */
export function ActionForm({ action, children, className }: { action: FormAction; children: ReactNode; className?: string }) {
  const [state, formAction] = useActionState(action, IDLE);
  return (
    <form action={formAction} className={className ?? "form"}>
      <FormMessage state={state} />
      {children}
    </form>
  );
}
