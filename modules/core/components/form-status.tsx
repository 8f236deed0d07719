"use client";

import { useFormStatus } from "react-dom";
import type { FormState } from "../lib/form-state.ts";

export function SubmitButton({ children, className }: { children: React.ReactNode; className?: string }) {
  const { pending } = useFormStatus();
  return (
    <button type="submit" className={className ?? "button"} disabled={pending} aria-busy={pending}>
      {children}
    </button>
  );
}

/** The form-level outcome line; secrets to reveal are shown once, with a copy button. */
export function FormMessage({ state }: { state: FormState }) {
  if (state.status === "idle") return null;
  return (
    <div className={state.status === "ok" ? "notice notice-ok" : "notice notice-error"} role="status">
      {state.message ? <p>{state.message}</p> : null}
      {state.reveal?.map((secret) => (
        <div key={secret.label} className="reveal">
          <span>{secret.label}</span>
          <code data-secret={secret.label}>{secret.value}</code>
          <button type="button" className="button button-small" onClick={() => void navigator.clipboard?.writeText(secret.value)}>
            Copy
          </button>
        </div>
      ))}
      {state.reveal?.length ? <p className="hint">Shown only now: copy it before leaving this page.</p> : null}
    </div>
  );
}
