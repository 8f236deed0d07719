import type { z } from "zod";
import { DomainError } from "@/server/domain/errors.ts";
import { capitalised } from "./format.ts";
import type { FormState } from "./form-state.ts";

const SECRET_FIELD = /password/i;

/** The typed values of a form, without passwords and Next's own fields; repeated names become lists. */
export function formValues(form: FormData): Record<string, string | string[]> {
  const values: Record<string, string | string[]> = {};
  for (const key of new Set(form.keys())) {
    if (key.startsWith("$") || SECRET_FIELD.test(key)) continue;
    const all = form.getAll(key).filter((v): v is string => typeof v === "string");
    values[key] = all.length === 1 ? all[0]! : all;
  }
  return values;
}

/** Validates a form; a failure is an error state with every issue next to its field. */
export function parseForm<S extends z.ZodType>(
  schema: S,
  form: FormData,
  input: unknown,
): { ok: true; data: z.output<S> } | { ok: false; state: FormState } {
  const result = schema.safeParse(input);
  if (result.success) return { ok: true, data: result.data };
  const fieldErrors: Record<string, string> = {};
  let message: string | undefined;
  for (const issue of result.error.issues) {
    const field = issue.path[0];
    if (typeof field === "string") fieldErrors[field] ??= sentence(issue.message);
    else message ??= sentence(issue.message);
  }
  return { ok: false, state: { status: "error", message: message ?? "Please correct the fields marked below.", fieldErrors, values: formValues(form) } };
}

/** Turns a refusal from a repository into an error state; anything else (a bug, a redirect) is rethrown. */
export function refusal(err: unknown, form: FormData): FormState {
  if (!(err instanceof DomainError)) throw err;
  const fieldErrors = Object.fromEntries(Object.entries(err.fields).map(([field, message]) => [field, sentence(message)]));
  const count = Object.keys(fieldErrors).length;
  return {
    status: "error",
    message: count === 0 ? sentence(err.message) : count === 1 ? "Please correct the field marked below." : "Please correct the fields marked below.",
    fieldErrors,
    values: formValues(form),
  };
}

/**
 * Messages come from schemas shared with the command line, which writes them in lower case
 * ("dtcpctl: a web password has at least 12 characters"); next to a form field they read as a
 * sentence.
 */
export function sentence(message: string): string {
  const trimmed = message.trim();
  if (trimmed === "") return trimmed;
  const capital = capitalised(trimmed);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}
