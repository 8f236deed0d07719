import { requestHostName } from "../../../core/lib/request.ts";
import { DEFAULT_DTCP_PORT } from "./commands.ts";

/** Where clients connect: BROKER_PUBLIC_HOST, else the host name this page was opened with; BROKER_DTCP_PORT, else 20200. */
export async function dtcpServer(): Promise<{ host: string; port: number }> {
  const port = Number(process.env.BROKER_DTCP_PORT ?? DEFAULT_DTCP_PORT);
  return {
    host: process.env.BROKER_PUBLIC_HOST || (await requestHostName()),
    port: Number.isInteger(port) && port > 0 && port < 65536 ? port : DEFAULT_DTCP_PORT,
  };
}
