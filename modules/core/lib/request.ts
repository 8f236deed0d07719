import { headers } from "next/headers";

/**
 * The client's address: the first X-Forwarded-For entry (Next sets it for direct connections;
 * a reverse proxy in front must set it too), else "unknown".
 */
export async function clientAddress(): Promise<string> {
  const forwarded = (await headers()).get("x-forwarded-for");
  return forwarded?.split(",")[0]?.trim() || "unknown";
}

export async function userAgent(): Promise<string | null> {
  return (await headers()).get("user-agent");
}

/** Whether the browser reached us over HTTPS (directly or through a proxy that says so). */
export async function overHttps(): Promise<boolean> {
  return (await headers()).get("x-forwarded-proto")?.split(",")[0]?.trim() === "https";
}

/** The host name the browser used, without the port. */
export async function requestHostName(): Promise<string> {
  const h = await headers();
  const host = h.get("x-forwarded-host")?.split(",")[0]?.trim() || h.get("host") || "localhost";
  return host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d+$/, "");
}

/**
 * A 303 to a path of this app, said relatively: request.url in a route handler names the host Next
 * listens on (localhost:3000), not the one the browser used, so no redirect may be built from it.
 */
export function seeOther(path: string): Response {
  if (!path.startsWith("/") || path.startsWith("//")) throw new Error(`a redirect goes to a path of this app; got ${path}`);
  return new Response(null, { status: 303, headers: { Location: path } });
}
