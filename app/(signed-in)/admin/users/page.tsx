import { requireAdmin } from "@/modules/auth/session/lib/context.ts";
import { CreateUserForm } from "@/modules/admin/users/components/create-user-form.tsx";
import { UserTable } from "@/modules/admin/users/components/user-table.tsx";

export const metadata = { title: "Users" };

export default async function UsersPage({ searchParams }: { searchParams: Promise<{ q?: string | string[] }> }) {
  const { broker } = await requireAdmin();
  const { q } = await searchParams;
  const search = typeof q === "string" ? q.trim() : "";
  const [users, pops] = await Promise.all([broker.users.list(search || undefined), broker.pops.list()]);
  return (
    <>
      <div className="toolbar">
        <h1>Users</h1>
        <form className="form-inline" role="search">
          <div className="field">
            <label htmlFor="q">Search name or e-mail</label>
            <input id="q" name="q" type="search" defaultValue={search} />
          </div>
          <button type="submit" className="button button-quiet">
            Search
          </button>
        </form>
      </div>
      <UserTable users={users} search={search} showPop={pops.length > 1} />
      <section className="panel" style={{ marginTop: "1.5rem" }}>
        <h2>Create a user</h2>
        <CreateUserForm pops={pops.map((p) => p.name)} />
      </section>
    </>
  );
}
