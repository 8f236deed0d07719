import { localOnly } from "@/server/net/reachability.ts";
import { broker } from "../../../core/lib/broker.ts";
import { requestHostName } from "../../../core/lib/request.ts";
import { DEFAULT_DTCP_PORT, type ClientSetup } from "./commands.ts";

export interface DtcpServer {
  host: string;
  port: number;
  /** IPv6 over TCP as the POP's daemon offers it. */
  tunnels: ClientSetup["tunnels"];
  /** Why the name may not work for clients elsewhere; null when nothing says so. */
  warning: string | null;
}

/**
 * Where the clients of the POP `pop` connect: the address set for that POP (POPs page, dtcpctl pop
 * set, dtcps --public-ipv4), else BROKER_PUBLIC_HOST, else the server name set under Settings,
 * else (with a warning) the host name this page was opened with; BROKER_DTCP_PORT, else 20200.
 */
export async function dtcpServer(pop: string): Promise<DtcpServer> {
  const portNumber = Number(process.env.BROKER_DTCP_PORT ?? DEFAULT_DTCP_PORT);
  const port = Number.isInteger(portNumber) && portNumber > 0 && portNumber < 65536 ? portNumber : DEFAULT_DTCP_PORT;
  const repositories = await broker();
  const found = (await repositories.pops.list()).find((p) => p.name === pop);
  const popHost = found?.publicHost;
  const tunnels = found?.tunnels ?? { tcpPort: null, tlsPort: null, tlsFingerprint: null };
  const configured = popHost || process.env.BROKER_PUBLIC_HOST || (await repositories.settings.get("publicHost"));
  const host = configured || (await requestHostName());
  const local = localOnly(host);
  const warning =
    local !== null
      ? `${host} is ${local}: clients on other machines cannot reach the broker by it.${configured ? "" : " An administrator sets the name clients use under Settings."}`
      : configured
        ? null
        : `No server name is set, so this is the name this page was opened with. An administrator sets the name clients use under Settings.`;
  return { host, port, tunnels, warning };
}
