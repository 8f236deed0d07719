import Link from "next/link";
import { requireAdmin } from "@/modules/auth/session/lib/context.ts";
import { AuditFilters } from "@/modules/admin/audit/components/audit-filters.tsx";
import { AuditTable } from "@/modules/admin/audit/components/audit-table.tsx";
import { AUDIT_PAGE_SIZE, auditFilter, auditHref, parseAuditQuery } from "@/modules/admin/audit/lib/filter.ts";

export const metadata = { title: "Audit log" };

export default async function AuditPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { broker } = await requireAdmin();
  const query = parseAuditQuery(await searchParams);
  const rows = await broker.audit.list(auditFilter(query));
  const page = rows.slice(0, AUDIT_PAGE_SIZE);
  const last = page.at(-1);
  const filtered = Boolean(query.actor || query.action || query.target || query.from || query.to);
  return (
    <>
      <h1>Audit log</h1>
      <AuditFilters query={query} />
      <AuditTable rows={page} filtered={filtered} />
      <nav className="pager" aria-label="Pages">
        {query.before !== undefined ? <Link href={auditHref(query, undefined)}>Newest</Link> : null}
        {rows.length > AUDIT_PAGE_SIZE && last ? <Link href={auditHref(query, last.id)}>Older entries →</Link> : null}
      </nav>
    </>
  );
}
