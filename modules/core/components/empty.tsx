import type { ReactNode } from "react";

/** What a table shows when it has no rows. */
export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}
