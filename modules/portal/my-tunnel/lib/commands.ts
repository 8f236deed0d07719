// What the portal tells a user to run: one recommendation for the situation they pick (their
// client program, tunnel type, transport, and whether a NAT sits between them and the internet),
// with the steps before it. Pure, so that the chooser can run in the browser.
import type { Transport, TunnelType } from "@/server/domain/types.ts";

export const DEFAULT_DTCP_PORT = 20200;

export interface ClientSetup {
  server: string;
  port: number;
  user: string;
  types: readonly TunnelType[];
  transports: readonly Transport[];
}

export type ClientProgram = "linux" | "kame" | "dtcpclient";
export type NetworkSituation = "public" | "nat";

export interface Choice {
  client: ClientProgram;
  type: TunnelType;
  transport: Transport;
  network: NetworkSituation;
}

export const CLIENT_PROGRAMS: Record<ClientProgram, { label: string; transports: readonly Transport[] }> = {
  linux: { label: "Linux: dtcpc from this broker", transports: ["udp", "proto41"] },
  kame: { label: "FreeBSD: dtcpc (KAME)", transports: ["proto41"] },
  dtcpclient: { label: "FreeBSD: dtcpclient", transports: ["udp", "proto41"] },
};

export const TRANSPORT_LABELS: Record<Transport, string> = {
  udp: "UDP (works through NAT)",
  proto41: "IPv6-in-IPv4 (protocol 41)",
  tcp: "TCP or TLS (where only TCP gets through)",
};
export const NETWORK_LABELS: Record<NetworkSituation, string> = {
  nat: "Behind a NAT (a home router, a private address)",
  public: "A public IPv4 address on this machine",
};

/** Where the portal's download link puts the Linux client's package. */
export const CLIENT_PACKAGE_PATH = "/downloads/dtcpc.tgz";

export interface Step {
  text: string;
  command?: string;
}

export interface Recommendation {
  steps: Step[];
  /** Said under the steps: what the choice assumes. */
  notes: string[];
}

/** The password line both dtcpc.auth and dtcpclient.auth hold. */
export function authFileLine(server: string, user: string, password: string): string {
  return `${server}:${user}:${password}\n`;
}

/** What may be chosen for this user: their types, and the transports each client can carry of theirs. */
export function options(setup: ClientSetup): { clients: ClientProgram[]; types: readonly TunnelType[]; transports: (client: ClientProgram) => Transport[] } {
  const transports = (client: ClientProgram) => CLIENT_PROGRAMS[client].transports.filter((t) => setup.transports.includes(t));
  const clients = (Object.keys(CLIENT_PROGRAMS) as ClientProgram[]).filter((c) => transports(c).length > 0);
  return { clients, types: setup.types, transports };
}

/** What most people need: our Linux client, a host tunnel where allowed, UDP where allowed, behind a NAT. */
export function defaultChoice(setup: ClientSetup): Choice | null {
  const { clients, types, transports } = options(setup);
  const client = clients[0];
  const type = types.includes("host") ? "host" : types[0];
  if (!client || !type) return null;
  return { client, type, transport: transports(client)[0]!, network: "nat" };
}

/** A choice made valid for the user: what they cannot use is replaced by what they can. */
export function settle(setup: ClientSetup, choice: Choice): Choice | null {
  const fallback = defaultChoice(setup);
  if (!fallback) return null;
  const { clients, types, transports } = options(setup);
  const client = clients.includes(choice.client) ? choice.client : fallback.client;
  const allowed = transports(client);
  return {
    client,
    type: types.includes(choice.type) ? choice.type : fallback.type,
    transport: allowed.includes(choice.transport) ? choice.transport : allowed[0]!,
    network: choice.network,
  };
}

/** The steps from nothing to a running tunnel for one choice. */
export function recommend(setup: ClientSetup, choice: Choice): Recommendation {
  const port = setup.port === DEFAULT_DTCP_PORT ? "" : ` -p ${setup.port}`;
  // -U: IPv6 over UDP; -n: do not insist that the server sees this machine's own address.
  const flags = [choice.transport === "udp" ? "-U " : "", choice.network === "nat" ? "-n " : ""].join("");
  const target = `-t ${choice.type} -u ${setup.user}${port} ${setup.server}`;
  const notes: string[] = [];
  if (choice.transport === "proto41" && choice.network === "nat") {
    notes.push("Protocol 41 through a NAT works only when the NAT box forwards protocol 41 to this machine; if it does not, choose UDP.");
  }
  if (choice.type === "network") notes.push("A network tunnel routes your delegated prefix to this machine; number your LAN from it.");

  if (choice.client === "linux") {
    notes.push("-l reconnects for ever; Ctrl-C ends the tunnel. The client needs root for its TUN device.");
    return {
      steps: [
        { text: "Install Node.js 20 or later and a C compiler (Debian, Ubuntu):", command: "sudo apt install nodejs npm build-essential python3" },
        {
          text: "Download dtcpc.tgz (link above) and install the client from it; npm builds its packet module:",
          command: "sudo npm install -g --allow-scripts=dtcpc,esbuild ./dtcpc.tgz",
        },
        { text: "Download dtcpc.auth (above) and make it readable by you only:", command: "chmod 600 ~/Downloads/dtcpc.auth" },
        { text: "Connect:", command: `sudo dtcpc -l ${flags}--auth-file ~/Downloads/dtcpc.auth ${target}` },
      ],
      notes,
    };
  }
  const program = choice.client === "kame" ? "dtcpc" : "dtcpclient";
  const file = `${program}.auth`;
  return {
    steps: [
      { text: `Install ${program} from packages:`, command: `pkg install ${choice.client === "kame" ? "dtcp" : "dtcpclient"}` },
      { text: `Download ${file} (above) and put it where ${program} reads it:`, command: `install -m 600 ${file} /usr/local/etc/${file}` },
      { text: "Connect:", command: `${program} -l ${flags}${target}` },
    ],
    notes,
  };
}
