import { Empty } from "../../../core/components/empty.tsx";
import { capitalised, DIRECTION, formatBytes, transportName } from "../../../core/lib/format.ts";
import { LiveBytes } from "./live-bytes.tsx";

export interface SessionRow {
  id: number;
  type: string;
  transport: string;
  clientIpv4: string;
  startedAt: Date;
  endedAt: Date | null;
  endReason: string | null;
  bytesIn: bigint;
  bytesOut: bigint;
}

const when = (d: Date) => d.toISOString().slice(0, 16).replace("T", " ");

/** A user's stored sessions; live ones show the live view's counters (inside a LiveSessionsProvider). */
export function SessionTable({ rows }: { rows: SessionRow[] }) {
  if (rows.length === 0) return <Empty>No sessions yet. Connect with one of the commands below.</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Started (UTC)</th>
            <th>Ended</th>
            <th>Type</th>
            <th>From</th>
            <th className="num">{capitalised(DIRECTION.out.user)}</th>
            <th className="num">{capitalised(DIRECTION.in.user)}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((s) => (
            <tr key={s.id}>
              <td className="nowrap">{when(s.startedAt)}</td>
              <td className="nowrap">{s.endedAt ? `${when(s.endedAt)} (${s.endReason ?? "ended"})` : <span className="badge">live</span>}</td>
              <td>
                {s.type}, {transportName(s.transport)}
              </td>
              <td>{s.clientIpv4}</td>
              <td className="num">{s.endedAt ? formatBytes(Number(s.bytesOut)) : <LiveBytes sessionId={s.id} field="bytesOut" stored={Number(s.bytesOut)} />}</td>
              <td className="num">{s.endedAt ? formatBytes(Number(s.bytesIn)) : <LiveBytes sessionId={s.id} field="bytesIn" stored={Number(s.bytesIn)} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
