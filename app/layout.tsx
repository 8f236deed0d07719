import type { Metadata, Viewport } from "next/types";
import { headers } from "next/headers";
import type { ReactNode } from "react";
import "./globals.css";

export const metadata: Metadata = { title: { default: "Tunnel broker", template: "%s · Tunnel broker" } };
export const viewport: Viewport = { width: "device-width", initialScale: 1 };

// Every page is rendered per request, so that its scripts carry that request's CSP nonce (proxy.ts).
export default async function RootLayout({ children }: { children: ReactNode }) {
  await headers();
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
