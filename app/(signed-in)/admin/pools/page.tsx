import { requireAdmin } from "@/modules/auth/session/lib/context.ts";
import { AddPoolForm } from "@/modules/admin/pools/components/add-pool-form.tsx";
import { PoolTable } from "@/modules/admin/pools/components/pool-table.tsx";

export const metadata = { title: "Pools" };

export default async function PoolsPage() {
  const { broker } = await requireAdmin();
  const [pools, pops] = await Promise.all([broker.pools.list(), broker.pops.list()]);
  return (
    <>
      <h1>Pools</h1>
      <PoolTable pools={pools} showPop={pops.length > 1} />
      <section className="panel" style={{ marginTop: "1.5rem" }}>
        <h2>Add a pool</h2>
        <p className="hint">Pools never overlap. Link pools give each host-tunnel user a stable address pair; delegation pools hand out routed prefixes.</p>
        <AddPoolForm pops={pops.map((p) => p.name)} />
      </section>
    </>
  );
}
