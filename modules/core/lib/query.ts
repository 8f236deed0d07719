import { z } from "zod";

// Filters of list pages live in the query string (a filtered view can be bookmarked); anything
// malformed in it is ignored rather than refused.

export const queryText = z
  .string()
  .trim()
  .max(200)
  .optional()
  .transform((v) => (v ? v : undefined))
  .catch(undefined);

/** A whole UTC day, YYYY-MM-DD. */
export const queryDay = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/)
  .optional()
  .catch(undefined);

/** The id paging continues below. */
export const queryBefore = z.coerce.number().int().positive().optional().catch(undefined);

/** The first value of a query parameter. */
export function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The start of a day, and the start of the day after (so that `to` includes its day). */
export const dayStart = (day: string | undefined) => (day ? new Date(`${day}T00:00:00Z`) : undefined);
export const dayAfter = (day: string | undefined) => (day ? new Date(new Date(`${day}T00:00:00Z`).getTime() + 86_400_000) : undefined);

/** `path` with the non-empty `params`, for links to another page of the same filtered view. */
export function hrefWith(path: string, params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== "") search.set(key, String(value));
  const qs = search.toString();
  return qs ? `${path}?${qs}` : path;
}
