import type { ReactNode } from "react";

export default function PublicLayout({ children }: { children: ReactNode }) {
  return (
    <div className="public">
      <p className="brand">Tunnel broker</p>
      <main className="card">{children}</main>
    </div>
  );
}
