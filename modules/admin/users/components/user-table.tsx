import Link from "next/link";
import type { UserView } from "@/server/repositories/users/repository.ts";
import { Empty } from "../../../core/components/empty.tsx";

export function UserTable({ users, search, showPop }: { users: UserView[]; search: string; showPop: boolean }) {
  if (users.length === 0) {
    return <Empty>{search ? `No user matches “${search}”.` : "No users yet. Create the first one below."}</Empty>;
  }
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Role</th>
            {showPop ? <th>POP</th> : null}
            <th>Status</th>
            <th>Tunnel types</th>
            <th>Transports</th>
            <th className="num">MTU</th>
            <th>E-mail</th>
          </tr>
        </thead>
        <tbody>
          {users.map((user) => (
            <tr key={user.id}>
              <td>
                <Link href={`/admin/users/${encodeURIComponent(user.name)}`}>{user.name}</Link>
              </td>
              <td>{user.role}</td>
              {showPop ? <td>{user.pop}</td> : null}
              <td>{user.disabled ? <span className="badge badge-off">disabled</span> : <span className="badge">active</span>}</td>
              <td>{user.allowedTypes.join(", ")}</td>
              <td>{user.allowedTransports.join(", ")}</td>
              <td className="num">{user.mtu}</td>
              <td>{user.email ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
