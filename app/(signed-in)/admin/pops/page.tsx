import { requireAdmin } from "@/modules/auth/session/lib/context.ts";
import { PopForm } from "@/modules/admin/pops/components/pop-form.tsx";
import { PopTable } from "@/modules/admin/pops/components/pop-table.tsx";

export const metadata = { title: "POPs" };

export default async function PopsPage() {
  const { broker } = await requireAdmin();
  const pops = await broker.pops.list();
  return (
    <>
      <h1>POPs</h1>
      <p className="hint">
        Each POP is a tunnel server (dtcps --pop &lt;name&gt;) with its own pools and users, on this one database. A daemon beats every second; one
        silent for longer than its peers’ limit (dtcps --pop-lost-after, 30 s by default) has its sessions ended.
      </p>
      <PopTable pops={pops} now={Date.now()} />
      <div className="grid-2" style={{ marginTop: "1.5rem" }}>
        {pops.map((pop) => (
          <section className="panel" key={pop.id}>
            <h2>{pop.name}</h2>
            <PopForm pop={pop} />
          </section>
        ))}
        <section className="panel">
          <h2>Add a POP</h2>
          <PopForm />
        </section>
      </div>
    </>
  );
}
