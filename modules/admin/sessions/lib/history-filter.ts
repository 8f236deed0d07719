import { END_REASONS } from "@/server/domain/types.ts";
import { z } from "zod";
import { type SessionFilter } from "@/server/repositories/sessions/repository.ts";
import { dayAfter, dayStart, first, hrefWith, queryBefore, queryDay, queryText } from "../../../core/lib/query.ts";

export const HISTORY_PAGE_SIZE = 50;
export const HISTORY_PATH = "/admin/sessions/history";

const querySchema = z.object({
  user: queryText,
  reason: z.enum(END_REASONS).optional().catch(undefined),
  from: queryDay,
  to: queryDay,
  before: queryBefore,
});

export type HistoryQuery = z.output<typeof querySchema>;

export function parseHistoryQuery(params: Record<string, string | string[] | undefined>): HistoryQuery {
  return querySchema.parse({ user: first(params.user), reason: first(params.reason), from: first(params.from), to: first(params.to), before: first(params.before) });
}

/** One row more than a page tells whether there is an older one. */
export function historyFilter(query: HistoryQuery): SessionFilter {
  return {
    userName: query.user,
    endReason: query.reason,
    from: dayStart(query.from),
    to: dayAfter(query.to),
    beforeId: query.before,
    limit: HISTORY_PAGE_SIZE + 1,
  };
}

export function historyHref(query: HistoryQuery, before: number | undefined): string {
  return hrefWith(HISTORY_PATH, { user: query.user, reason: query.reason, from: query.from, to: query.to, before });
}
