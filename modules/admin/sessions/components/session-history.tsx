import { END_REASONS } from "@/server/domain/types.ts";
import Link from "next/link";
import { Empty } from "../../../core/components/empty.tsx";
import { capitalised, DIRECTION, formatBytes, formatCount, transportName } from "../../../core/lib/format.ts";
import { HISTORY_PATH, type HistoryQuery } from "../lib/history-filter.ts";

export interface HistoryRow {
  id: number;
  userName: string;
  /** Null once the account is removed. */
  userId: number | null;
  type: string;
  transport: string;
  clientIpv4: string;
  clientUdpPort: number | null;
  startedAt: Date;
  endedAt: Date | null;
  endReason: string | null;
  bytesIn: bigint;
  bytesOut: bigint;
  packetsIn: bigint;
  packetsOut: bigint;
}

const when = (d: Date) => d.toISOString().slice(0, 19).replace("T", " ");

/** A plain GET form: filters live in the URL, so a filtered view can be bookmarked. */
export function HistoryFilters({ query }: { query: HistoryQuery }) {
  return (
    <form className="form-inline panel" role="search" aria-label="Filter the session history" action={HISTORY_PATH}>
      <div className="field">
        <label htmlFor="history-user">User</label>
        <input id="history-user" name="user" defaultValue={query.user} />
      </div>
      <div className="field">
        <label htmlFor="history-reason">End reason</label>
        <select id="history-reason" name="reason" defaultValue={query.reason ?? ""}>
          <option value="">any</option>
          {END_REASONS.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="history-from">Started from</label>
        <input id="history-from" name="from" type="date" defaultValue={query.from} />
      </div>
      <div className="field">
        <label htmlFor="history-to">To</label>
        <input id="history-to" name="to" type="date" defaultValue={query.to} />
      </div>
      <div className="actions">
        <button type="submit" className="button">
          Filter
        </button>
        <Link href={HISTORY_PATH} className="button button-quiet">
          Clear
        </Link>
      </div>
    </form>
  );
}

/** Every session, ended or not, with its counters as last written (live ones every minute). */
export function HistoryTable({ rows, filtered }: { rows: HistoryRow[]; filtered: boolean }) {
  if (rows.length === 0) return <Empty>{filtered ? "No session matches these filters." : "No session yet."}</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Started (UTC)</th>
            <th>Ended</th>
            <th>User</th>
            <th>Type</th>
            <th>Client</th>
            <th className="num">{capitalised(DIRECTION.in.admin)}</th>
            <th className="num">{capitalised(DIRECTION.out.admin)}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((s) => (
            <tr key={s.id} data-session-id={s.id}>
              <td className="nowrap">{when(s.startedAt)}</td>
              <td className="nowrap" data-field="ended">
                {s.endedAt ? (
                  <>
                    {when(s.endedAt)}
                    <div className="hint">{s.endReason ?? "ended"}</div>
                  </>
                ) : (
                  <span className="badge">live</span>
                )}
              </td>
              <td>
                {s.userId === null ? (
                  <>
                    {s.userName} <span className="hint">(removed)</span>
                  </>
                ) : (
                  <a href={`/admin/users/${encodeURIComponent(s.userName)}`}>{s.userName}</a>
                )}
              </td>
              <td>
                {s.type}
                <div className="hint">{transportName(s.transport)}</div>
              </td>
              <td className="nowrap">
                <code>{s.clientUdpPort === null ? s.clientIpv4 : `${s.clientIpv4}:${s.clientUdpPort}`}</code>
              </td>
              <td className="num nowrap">
                {formatBytes(Number(s.bytesIn))}
                <div className="hint">{formatCount(Number(s.packetsIn))} packets</div>
              </td>
              <td className="num nowrap">
                {formatBytes(Number(s.bytesOut))}
                <div className="hint">{formatCount(Number(s.packetsOut))} packets</div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
