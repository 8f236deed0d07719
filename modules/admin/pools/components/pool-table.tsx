import type { PoolView } from "@/server/repositories/pools/repository.ts";
import { ActionForm } from "../../../core/components/action-form.tsx";
import { ConfirmSubmit } from "../../../core/components/confirm-submit.tsx";
import { Empty } from "../../../core/components/empty.tsx";
import { removePool } from "../actions.ts";
import { utilisation } from "../lib/schemas.ts";

export function PoolTable({ pools, showPop }: { pools: PoolView[]; showPop: boolean }) {
  if (pools.length === 0) return <Empty>No pools yet. Add a link pool for host tunnels and a delegation pool for routed prefixes.</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Prefix</th>
            {showPop ? <th>POP</th> : null}
            <th className="optional">Purpose</th>
            <th className="optional">Hands out</th>
            <th className="optional">Auto</th>
            <th className="num">Used</th>
            <th className="optional">Utilisation</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {pools.map((pool) => {
            const percent = utilisation(pool.used, pool.capacity);
            return (
              <tr key={pool.id}>
                <td className="nowrap">
                  <code>{pool.cidr}</code>
                </td>
                {showPop ? <td>{pool.pop}</td> : null}
                <td className="optional">{pool.purpose}</td>
                <td className="optional">/{pool.prefixLength}</td>
                <td className="optional">{pool.autoDelegate ? "yes" : "—"}</td>
                <td className="num nowrap">
                  {pool.used} / {pool.capacity.toLocaleString("en")}
                </td>
                <td className="optional">
                  <div className="meter" role="img" aria-label={`${percent}% used`}>
                    <span style={{ width: `${Math.max(percent, pool.used > 0 ? 1 : 0)}%` }} />
                  </div>
                  <span className="hint">{percent}%</span>
                </td>
                <td>
                  {pool.used === 0 ? (
                    <ActionForm action={removePool} className="actions">
                      <input type="hidden" name="cidr" value={pool.cidr} />
                      <ConfirmSubmit label="Remove" question={`Remove ${pool.cidr}?`} />
                    </ActionForm>
                  ) : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
