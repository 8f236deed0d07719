import { AddressError } from "../net/errors.ts";
import { parsePrefix6, type Prefix6 } from "../net/prefix.ts";
import type { z } from "zod";

/** A refusal a person can act on; `field` names the form field it belongs to, when there is one. */
export class DomainError extends Error {
  /** Every field that was wrong, with its message (the first of them is `field`). */
  readonly fields: Readonly<Record<string, string>>;

  constructor(
    message: string,
    readonly field?: string,
    fields?: Record<string, string>,
  ) {
    super(message);
    this.fields = fields ?? (field === undefined ? {} : { [field]: message });
  }
}

/** Input from a form or a command line: shaped like T, but nothing is trusted until validated. */
export type Untrusted<T> = { [K in keyof T]?: unknown };

/** Parses `value`; a refusal names every wrong field at once, not only the first. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, field?: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const fields: Record<string, string> = {};
  for (const issue of result.error.issues) {
    const path = field ?? issue.path[0];
    if (typeof path === "string") fields[path] ??= issue.message;
  }
  const issue = result.error.issues[0];
  const path = issue?.path[0];
  throw new DomainError(issue?.message ?? "invalid input", field ?? (typeof path === "string" ? path : undefined), fields);
}

/** Parses a prefix typed by a person; a bad one becomes a DomainError on that field. */
export function prefixField(text: string, field: string): Prefix6 {
  try {
    return parsePrefix6(text.trim());
  } catch (err) {
    if (err instanceof AddressError) throw new DomainError(err.message, field);
    throw err;
  }
}
