"use client";

import { useEffect, useState } from "react";
import { useFormStatus } from "react-dom";

/**
 * A destructive submit in two steps: the first button only asks, the second (inside the same form) does it.
 */
export function ConfirmSubmit({ label, question, confirmLabel }: { label: string; question: string; confirmLabel?: string }) {
  const [asking, setAsking] = useState(false);
  const { pending } = useFormStatus();
  // Once the submission is over the question is answered: back to the first button.
  useEffect(() => {
    if (!pending) setAsking(false);
  }, [pending]);
  if (!asking) {
    return (
      <button type="button" className="button button-danger-quiet" onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span className="confirm" role="group" aria-label="Confirm">
      <span className="confirm-question">{question}</span>
      <button type="submit" className="button button-danger" disabled={pending}>
        {confirmLabel ?? `Yes, ${label.toLowerCase()}`}
      </button>
      <button type="button" className="button button-quiet" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}
