import Link from "next/link";
import type { AuditQuery } from "../lib/filter.ts";

/** A plain GET form: filters live in the URL, so a filtered view can be bookmarked. */
export function AuditFilters({ query }: { query: AuditQuery }) {
  return (
    <form className="form-inline panel" role="search" aria-label="Filter the audit log">
      <div className="field">
        <label htmlFor="audit-actor">Who</label>
        <input id="audit-actor" name="actor" defaultValue={query.actor} placeholder="web:alice" />
      </div>
      <div className="field">
        <label htmlFor="audit-action">Action starts with</label>
        <input id="audit-action" name="action" defaultValue={query.action} placeholder="user." />
      </div>
      <div className="field">
        <label htmlFor="audit-target">Target</label>
        <input id="audit-target" name="target" defaultValue={query.target} />
      </div>
      <div className="field">
        <label htmlFor="audit-from">From</label>
        <input id="audit-from" name="from" type="date" defaultValue={query.from} />
      </div>
      <div className="field">
        <label htmlFor="audit-to">To</label>
        <input id="audit-to" name="to" type="date" defaultValue={query.to} />
      </div>
      <div className="actions">
        <button type="submit" className="button">
          Filter
        </button>
        <Link href="/admin/audit" className="button button-quiet">
          Clear
        </Link>
      </div>
    </form>
  );
}
