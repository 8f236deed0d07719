import { z } from "zod";
import type { AuditFilter } from "@/server/repositories/audit/repository.ts";
import { dayAfter, dayStart, first, hrefWith, queryBefore, queryDay, queryText } from "../../../core/lib/query.ts";

export const AUDIT_PAGE_SIZE = 50;

const querySchema = z.object({ actor: queryText, action: queryText, target: queryText, from: queryDay, to: queryDay, before: queryBefore });

export type AuditQuery = z.output<typeof querySchema>;

/** Reads the audit page's query string; anything malformed is ignored rather than refused. */
export function parseAuditQuery(params: Record<string, string | string[] | undefined>): AuditQuery {
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
    from: dayStart(query.from),
    to: dayAfter(query.to),
    beforeId: query.before,
    limit: AUDIT_PAGE_SIZE + 1,
  };
}

/** The query string of another page with the same filters. */
export function auditHref(query: AuditQuery, before: number | undefined): string {
  return hrefWith("/admin/audit", { actor: query.actor, action: query.action, target: query.target, from: query.from, to: query.to, before });
}
