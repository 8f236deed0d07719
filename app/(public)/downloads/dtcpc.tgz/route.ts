import { NextResponse } from "next/server";
import { clientPackage } from "@/server/packaging/client-package.ts";

let cached: Buffer | null = null;

/** The Linux client as an npm package (`sudo npm install -g ./dtcpc.tgz`): free software, no sign-in needed. */
export function GET() {
  cached ??= clientPackage(process.cwd());
  return new NextResponse(new Uint8Array(cached), {
    headers: {
      "Content-Type": "application/gzip",
      "Content-Disposition": 'attachment; filename="dtcpc.tgz"',
      "Cache-Control": "public, max-age=300",
      "X-Content-Type-Options": "nosniff",
    },
  });
}
