import { ActionForm } from "../../../core/components/action-form.tsx";
import { ConfirmSubmit } from "../../../core/components/confirm-submit.tsx";
import { Empty } from "../../../core/components/empty.tsx";
import { releasePrefix } from "../actions.ts";

export interface DelegationRow {
  id: number;
  prefix: string;
  user: string;
  pool: string;
  since: Date;
}

export function DelegationTable({ rows }: { rows: DelegationRow[] }) {
  if (rows.length === 0) return <Empty>No prefix is delegated yet.</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Prefix</th>
            <th>User</th>
            <th>Pool</th>
            <th>Since</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.id}>
              <td className="nowrap">
                <code>{row.prefix}</code>
              </td>
              <td>{row.user}</td>
              <td className="nowrap">
                <code>{row.pool}</code>
              </td>
              <td className="nowrap">{row.since.toISOString().slice(0, 16).replace("T", " ")} UTC</td>
              <td>
                <ActionForm action={releasePrefix} className="actions">
                  <input type="hidden" name="user" value={row.user} />
                  <input type="hidden" name="prefix" value={row.prefix} />
                  <ConfirmSubmit label="Release" question={`Take ${row.prefix} back from ${row.user}?`} />
                </ActionForm>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
