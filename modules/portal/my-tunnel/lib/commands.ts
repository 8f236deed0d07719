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
  /** IPv6 over TCP as the user's POP offers it: ports (null: not offered) and the TLS certificate's fingerprint. */
  tunnels: { tcpPort: number | null; tlsPort: number | null; tlsFingerprint: string | null };
}

/** How packets travel, as the chooser offers it: a transport, TLS (TCP inside TLS), or auto (the Linux client tries UDP, then TCP, then TLS). */
export type WayOfCarrying = Transport | "tls" | "auto";

export type ClientProgram = "linux" | "kame" | "dtcpclient";
export type NetworkSituation = "public" | "nat";

export interface Choice {
  client: ClientProgram;
  type: TunnelType;
  transport: WayOfCarrying;
  network: NetworkSituation;
}

export const CLIENT_PROGRAMS: Record<ClientProgram, { label: string; transports: readonly WayOfCarrying[] }> = {
  linux: { label: "Linux: dtcpc from this broker", transports: ["auto", "udp", "proto41", "tcp", "tls"] },
  kame: { label: "FreeBSD: dtcpc (KAME)", transports: ["proto41"] },
  dtcpclient: { label: "FreeBSD: dtcpclient", transports: ["udp", "proto41"] },
};

export const TRANSPORT_LABELS: Record<WayOfCarrying, string> = {
  auto: "Automatic: UDP, else TCP, else TLS (recommended)",
  udp: "UDP (works through NAT)",
  proto41: "IPv6-in-IPv4 (protocol 41)",
  tcp: "TCP (where UDP is blocked)",
  tls: "TLS (where only web traffic gets out)",
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

/** Whether the user may use it and their POP offers it. */
function available(setup: ClientSetup, way: WayOfCarrying): boolean {
  const tcp = setup.transports.includes("tcp");
  switch (way) {
    case "tcp":
      return tcp && setup.tunnels.tcpPort !== null;
    case "tls":
      return tcp && setup.tunnels.tlsPort !== null;
    case "auto":
      // Its first rung is UDP, and it needs somewhere to fall back to.
      return setup.transports.includes("udp") && (available(setup, "tcp") || available(setup, "tls"));
    default:
      return setup.transports.includes(way);
  }
}

/** What may be chosen for this user: their types, and the ways each client can carry their packets. */
export function options(setup: ClientSetup): { clients: ClientProgram[]; types: readonly TunnelType[]; transports: (client: ClientProgram) => WayOfCarrying[] } {
  const transports = (client: ClientProgram) => CLIENT_PROGRAMS[client].transports.filter((t) => available(setup, t));
  const clients = (Object.keys(CLIENT_PROGRAMS) as ClientProgram[]).filter((c) => transports(c).length > 0);
  return { clients, types: setup.types, transports };
}

/** What most people need: our Linux client, a host tunnel where allowed, automatic transport (else UDP) where allowed, behind a NAT. */
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
  const { tlsPort, tlsFingerprint } = setup.tunnels;
  const tls = choice.transport === "tls";
  const port = tls ? (tlsPort === 443 ? "" : ` -p ${tlsPort}`) : setup.port === DEFAULT_DTCP_PORT ? "" : ` -p ${setup.port}`;
  // -U: IPv6 over UDP; -n: do not insist that the server sees this machine's own address (only
  // where the server would send to it: protocol 41 and UDP to a port; TCP and auto need no -n).
  // Our client with a pin logs in inside TLS whatever carries the packets: nobody on the path can
  // answer in the broker's name or see the response to the challenge.
  const pinned = choice.client === "linux" && tlsPort !== null && tlsFingerprint !== null;
  const pin = pinned ? ` --pin ${tlsFingerprint}` : "";
  const tlsPortFlag = tlsPort !== null && tlsPort !== 443 && (pinned || choice.transport === "auto") ? ` --tls-port ${tlsPort}` : "";
  const transportFlags: Record<WayOfCarrying, string> = {
    proto41: pinned ? `${pin.slice(1)}${tlsPortFlag} ` : "",
    udp: `-U${pin}${tlsPortFlag} `,
    tcp: `--tcp${pin}${tlsPortFlag} `,
    tls: `--tls${pin} `,
    auto: `--transport auto${pin}${tlsPortFlag} `,
  };
  const natFlag = choice.network === "nat" && (choice.transport === "udp" || choice.transport === "proto41") ? "-n " : "";
  const flags = `${transportFlags[choice.transport]}${natFlag}`;
  const target = `-t ${choice.type} -u ${setup.user}${port} ${setup.server}`;
  const notes: string[] = [];
  if (choice.transport === "auto") {
    notes.push(
      pinned
        ? "dtcpc tries UDP first; if nothing comes back within 5 s it falls back to TLS, and says in its log which it settled on."
        : "dtcpc tries UDP first; if nothing comes back within 5 s it falls back to TCP, then to TLS, and says in its log which it settled on.",
    );
  }
  if (pinned) notes.push(`--pin: dtcpc logs in only inside TLS (port ${tlsPort}), once the broker has shown this certificate; nobody on the way can answer in its name or see your login.`);
  if (choice.client === "dtcpclient" && choice.transport === "udp") {
    notes.push("With a UDP port forwarded on your NAT box to this machine, use -B <that port> instead of -n (and -b <local port> if it is not 4028).");
  }
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
