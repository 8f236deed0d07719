import { z } from "zod";
import type { AuditFilter } from "@/server/repositories/audit/repository.ts";

export const AUDIT_PAGE_SIZE = 50;

const text = z
  .string()
  .trim()
  .max(200)
  .optional()
  .transform((v) => (v ? v : undefined));
const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/)
  .optional()
  .catch(undefined);

const querySchema = z.object({
  actor: text.catch(undefined),
  action: text.catch(undefined),
  target: text.catch(undefined),
  from: day,
  to: day,
  before: z.coerce.number().int().positive().optional().catch(undefined),
});

export type AuditQuery = z.output<typeof querySchema>;

/** Reads the audit page's query string; anything malformed is ignored rather than refused. */
export function parseAuditQuery(params: Record<string, string | string[] | undefined>): AuditQuery {
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  return querySchema.parse({
    actor: first(params.actor),
    action: first(params.action),
    target: first(params.target),
    from: first(params.from),
    to: first(params.to),
    before: first(params.before),
  });
}

/** The repository filter for a query; dates are whole UTC days, `to` included. One row more than a page tells whether there is a next one. */
export function auditFilter(query: AuditQuery): AuditFilter {
  return {
    actor: query.actor,
    action: query.action,
    target: query.target,
    from: query.from ? new Date(`${query.from}T00:00:00Z`) : undefined,
    to: query.to ? new Date(new Date(`${query.to}T00:00:00Z`).getTime() + 86_400_000) : undefined,
    beforeId: query.before,
    limit: AUDIT_PAGE_SIZE + 1,
  };
}

/** The query string of another page with the same filters. */
export function auditHref(query: AuditQuery, before: number | undefined): string {
  const params = new URLSearchParams();
  for (const key of ["actor", "action", "target", "from", "to"] as const) {
    const value = query[key];
    if (value) params.set(key, value);
  }
  if (before !== undefined) params.set("before", String(before));
  const qs = params.toString();
  return qs ? `/admin/audit?${qs}` : "/admin/audit";
}
