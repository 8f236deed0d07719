import type { PopView } from "@/server/repositories/pops/repository.ts";
import { ActionForm } from "../../../core/components/action-form.tsx";
import { ConfirmSubmit } from "../../../core/components/confirm-submit.tsx";
import { capitalised, DIRECTION, formatAgo, formatBytes, formatUtc } from "../../../core/lib/format.ts";
import { removePop } from "../actions.ts";
import { popHealth } from "../lib/health.ts";

function Health({ pop, now }: { pop: PopView; now: number }) {
  const health = popHealth(pop.heartbeatAt, now);
  if (health.state === "never-started") return <span className="badge badge-off">never started</span>;
  return (
    <span title={`last heartbeat ${formatUtc(health.since)}`}>
      {health.state === "up" ? <span className="badge">up</span> : <span className="badge badge-warn">silent</span>}
      {health.state === "silent" ? <div className="hint">last heard {formatAgo(health.since, now)}</div> : null}
    </span>
  );
}

/** Every POP with its health, what it serves and its traffic. */
export function PopTable({ pops, now }: { pops: PopView[]; now: number }) {
  return (
    <div className="table-wrap">
      <table aria-label="POPs">
        <thead>
          <tr>
            <th>POP</th>
            <th>Health</th>
            <th className="num">Live sessions</th>
            <th className="optional">Clients connect to</th>
            <th className="num optional">Users</th>
            <th className="num optional">Pools</th>
            <th className="num optional">{capitalised(DIRECTION.in.admin)}, 24 h</th>
            <th className="num optional">{capitalised(DIRECTION.out.admin)}, 24 h</th>
            <th>
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {pops.map((pop) => (
            <tr key={pop.id} data-pop={pop.name}>
              <td>
                <strong>{pop.name}</strong>
                <div className="hint">{pop.apiUrl ?? "API: local daemon"}</div>
              </td>
              <td data-field="health">
                <Health pop={pop} now={now} />
              </td>
              <td className="num" data-field="live">
                {pop.liveSessions}
              </td>
              <td className="optional">{pop.publicHost ?? <span className="hint">the server name</span>}</td>
              <td className="num optional">{pop.users}</td>
              <td className="num optional">{pop.pools}</td>
              <td className="num optional">{formatBytes(Number(pop.traffic.bytesIn))}</td>
              <td className="num optional">{formatBytes(Number(pop.traffic.bytesOut))}</td>
              <td>
                {pop.users === 0 && pop.pools === 0 && pops.length > 1 ? (
                  <ActionForm action={removePop} className="actions">
                    <input type="hidden" name="name" value={pop.name} />
                    <ConfirmSubmit label="Remove" question={`Remove the POP ${pop.name}?`} />
                  </ActionForm>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
