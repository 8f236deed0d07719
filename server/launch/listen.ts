/** host:port for the web app, from BROKER_WEB_LISTEN ("127.0.0.1:3000", "[::1]:3000", "0.0.0.0:80", "3000"). */
export interface Listen {
  host: string;
  port: number;
}

export const DEFAULT_WEB_LISTEN = "127.0.0.1:3000";

export function parseListen(text: string): Listen {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim()) ?? /^()()(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`BROKER_WEB_LISTEN must be host:port, [ipv6]:port or a port; got "${text}"`);
  }
  return { host: match[1] || match[2] || "127.0.0.1", port };
}

/** The base URL people should open: a wildcard bind address is replaced by the public host name. */
export function publicBaseUrl(listen: Listen, publicHost: string): string {
  const wildcard = listen.host === "0.0.0.0" || listen.host === "::";
  const host = wildcard ? publicHost : listen.host;
  return `http://${host.includes(":") ? `[${host}]` : host}:${listen.port}`;
}
