// What form actions answer; safe to import from client components (no server code).

/** What a form action answers; fields keep what was typed (never passwords) so the form can show it again. */
export interface FormState {
  status: "idle" | "ok" | "error";
  message?: string;
  fieldErrors?: Record<string, string>;
  values?: Record<string, string | string[]>;
  /** Secrets shown exactly once (generated passwords). */
  reveal?: { label: string; value: string }[];
}

export const IDLE: FormState = { status: "idle" };

/** The value a field showed when the form was last submitted, for `defaultValue`. */
export function typed(state: FormState, name: string): string | undefined {
  const value = state.values?.[name];
  return typeof value === "string" ? value : undefined;
}
