import { NextResponse, type NextRequest } from "next/server";
import { contentSecurityPolicy } from "./server/web/security-headers.ts";

/** A fresh nonce per request: Next reads it from the request's policy and puts it on its scripts. */
export function proxy(request: NextRequest): NextResponse {
  const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString("base64");
  const policy = contentSecurityPolicy(nonce);
  const headers = new Headers(request.headers);
  headers.set("Content-Security-Policy", policy);
  headers.set("x-nonce", nonce);
  const response = NextResponse.next({ request: { headers } });
  response.headers.set("Content-Security-Policy", policy);
  return response;
}

export const config = {
  // Pages and routes; Next's static assets carry the fixed headers from the server only.
  matcher: [{ source: "/((?!_next/static|_next/image|favicon.ico).*)" }],
};
