import { signOut } from "../../auth/sign-out/actions.ts";
import { NavLink } from "./nav-link.tsx";

const ADMIN_LINKS = [
  { href: "/admin/users", label: "Users" },
  { href: "/admin/sessions", label: "Sessions" },
  { href: "/admin/pools", label: "Pools" },
  { href: "/admin/pops", label: "POPs" },
  { href: "/admin/delegations", label: "Delegations" },
  { href: "/admin/audit", label: "Audit log" },
  { href: "/admin/settings", label: "Settings" },
];
const USER_LINKS = [
  { href: "/tunnel", label: "My tunnel" },
  { href: "/account", label: "Account" },
];

export function SiteHeader({ name, admin }: { name: string; admin: boolean }) {
  return (
    <header className="site-header">
      <div className="site-header-inner">
        <span className="brand">Tunnel broker</span>
        <nav aria-label="Main">
          <ul>
            {[...(admin ? ADMIN_LINKS : []), ...USER_LINKS].map((link) => (
              <li key={link.href}>
                <NavLink href={link.href}>{link.label}</NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <form action={signOut} className="sign-out">
          <span className="who">{name}</span>
          <button type="submit" className="button button-quiet button-small">
            Sign out
          </button>
        </form>
      </div>
    </header>
  );
}
