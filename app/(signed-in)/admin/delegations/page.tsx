import { requireAdmin } from "@/modules/auth/session/lib/context.ts";
import { DelegateForm } from "@/modules/admin/delegations/components/delegate-form.tsx";
import { DelegationTable } from "@/modules/admin/delegations/components/delegation-table.tsx";
import { Empty } from "@/modules/core/components/empty.tsx";

export const metadata = { title: "Delegations" };

export default async function DelegationsPage() {
  const { broker } = await requireAdmin();
  const [delegations, users, pools, pairs] = await Promise.all([
    broker.allocations.list(),
    broker.users.list(),
    broker.pools.list(),
    broker.allocations.linkPairs(),
  ]);
  const delegationPools = pools
    .filter((p) => p.purpose === "delegation")
    .map((p) => ({ cidr: p.cidr, label: `${p.cidr} (/${p.prefixLength}, ${p.used} of ${p.capacity.toLocaleString("en")} used)` }));
  return (
    <>
      <h1>Delegations</h1>
      <DelegationTable rows={delegations.map((d) => ({ id: d.id, prefix: d.prefix, user: d.userName, pool: d.pool, since: d.createdAt }))} />
      <section className="panel" style={{ marginTop: "1.5rem" }}>
        <h2>Delegate a prefix</h2>
        <DelegateForm users={users.map((u) => u.name)} pools={delegationPools} />
      </section>
      <h2>Address pairs for host tunnels</h2>
      {pairs.length === 0 ? (
        <Empty>No address pair is allocated yet: a user gets one at their first host tunnel.</Empty>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>User</th>
                <th>Client address</th>
                <th>Server address</th>
                <th>Block</th>
              </tr>
            </thead>
            <tbody>
              {pairs.map((pair) => (
                <tr key={pair.id}>
                  <td>{pair.userName}</td>
                  <td>
                    <code>{pair.clientAddress}</code>
                  </td>
                  <td>
                    <code>{pair.serverAddress}</code>
                  </td>
                  <td>
                    <code>{pair.block}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
