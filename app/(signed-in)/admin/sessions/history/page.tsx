import Link from "next/link";
import { HistoryFilters, HistoryTable } from "@/modules/admin/sessions/components/session-history.tsx";
import { HISTORY_PAGE_SIZE, historyFilter, historyHref, parseHistoryQuery } from "@/modules/admin/sessions/lib/history-filter.ts";
import { requireAdmin } from "@/modules/auth/session/lib/context.ts";

export const metadata = { title: "Session history" };

export default async function SessionHistoryPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { broker } = await requireAdmin();
  const query = parseHistoryQuery(await searchParams);
  const rows = await broker.sessions.list(historyFilter(query));
  const page = rows.slice(0, HISTORY_PAGE_SIZE);
  const last = page.at(-1);
  const filtered = Boolean(query.user || query.reason || query.from || query.to);
  return (
    <>
      <h1>Session history</h1>
      <p className="hint">
        Every session, newest first, with its counters as last written (a live one’s every minute). <Link href="/admin/sessions">Live sessions</Link>
      </p>
      <HistoryFilters query={query} />
      <HistoryTable rows={page} filtered={filtered} />
      <nav className="pager" aria-label="Pages">
        {query.before !== undefined ? <Link href={historyHref(query, undefined)}>Newest</Link> : null}
        {rows.length > HISTORY_PAGE_SIZE && last ? <Link href={historyHref(query, last.id)}>Older sessions →</Link> : null}
      </nav>
    </>
  );
}
