import { Empty } from "../../../core/components/empty.tsx";

export interface AuditRow {
  id: number;
  at: Date;
  actor: string;
  source: string | null;
  action: string;
  target: string | null;
  before: string | null;
  after: string | null;
}

/** A snapshot as one "key: value" line per field; anything that is not an object is shown as stored. */
function Snapshot({ json }: { json: string | null }) {
  if (json === null) return <span className="hint">—</span>;
  let lines = [json];
  try {
    const value: unknown = JSON.parse(json);
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      lines = Object.entries(value).map(([key, v]) => `${key}: ${Array.isArray(v) ? v.join(", ") : typeof v === "string" ? v : JSON.stringify(v)}`);
    }
  } catch {
    // Not JSON: shown as stored.
  }
  return <pre className="snapshot">{lines.join("\n")}</pre>;
}

export function AuditTable({ rows, filtered }: { rows: AuditRow[]; filtered: boolean }) {
  if (rows.length === 0) return <Empty>{filtered ? "No entry matches these filters." : "The audit log is empty."}</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>When (UTC)</th>
            <th>Who</th>
            <th>What</th>
            <th>Target</th>
            <th>Before</th>
            <th>After</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.id}>
              <td className="nowrap">{row.at.toISOString().slice(0, 19).replace("T", " ")}</td>
              <td>
                {row.actor}
                {row.source ? <div className="hint">{row.source}</div> : null}
              </td>
              <td>
                <code>{row.action}</code>
              </td>
              <td>{row.target ?? "—"}</td>
              <td>
                <Snapshot json={row.before} />
              </td>
              <td>
                <Snapshot json={row.after} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
