import type { Transport, TunnelType } from "@/server/repositories/users/schema.ts";

export const DEFAULT_DTCP_PORT = 20200;

export interface ClientSetup {
  server: string;
  port: number;
  user: string;
  types: readonly TunnelType[];
  transports: readonly Transport[];
}

export interface CommandLine {
  /** What the line is for, e.g. "network tunnel, behind NAT, over UDP". */
  label: string;
  command: string;
}

export interface ClientCommands {
  client: string;
  note: string;
  lines: CommandLine[];
}

/** The password line both dtcpc.auth and dtcpclient.auth hold. */
export function authFileLine(server: string, user: string, password: string): string {
  return `${server}:${user}:${password}\n`;
}

/** Command lines for each client, tunnel type and transport the user may use. */
export function clientCommands(setup: ClientSetup): ClientCommands[] {
  const port = setup.port === DEFAULT_DTCP_PORT ? "" : ` -p ${setup.port}`;
  const common = (type: TunnelType) => `-t ${type} -u ${setup.user}${port}`;
  const kame = setup.transports.includes("proto41")
    ? setup.types.map((type) => ({ label: `${type} tunnel`, command: `${common(type)} ${setup.server}` }))
    : [];
  const linux: CommandLine[] = [];
  for (const type of setup.types) {
    if (setup.transports.includes("proto41")) {
      linux.push({ label: `${type} tunnel, IPv6-in-IPv4 (protocol 41)`, command: `sudo dtcpc -l ${common(type)} ${setup.server}` });
      linux.push({ label: `${type} tunnel, protocol 41 behind a NAT that forwards it`, command: `sudo dtcpc -l -n ${common(type)} ${setup.server}` });
    }
    if (setup.transports.includes("udp")) {
      linux.push({ label: `${type} tunnel over UDP`, command: `sudo dtcpc -l -U ${common(type)} ${setup.server}` });
      linux.push({ label: `${type} tunnel over UDP behind NAT (traversal)`, command: `sudo dtcpc -l -U -n ${common(type)} ${setup.server}` });
      linux.push({
        label: `${type} tunnel over UDP behind NAT with a static forward of UDP 4028`,
        command: `sudo dtcpc -l -U -n -b 4028 -B 4028 ${common(type)} ${setup.server}`,
      });
    }
  }
  return [
    {
      client: "dtcpc (FreeBSD, KAME)",
      note: "IPv6-in-IPv4 only; needs a public IPv4 address or a NAT box that forwards protocol 41. Reads /usr/local/etc/dtcpc.auth.",
      lines: kame.map((line) => ({ ...line, command: `dtcpc ${line.command}` })),
    },
    {
      client: "dtcpclient (FreeBSD)",
      note: "IPv6-in-IPv4 as shown; reads /usr/local/etc/dtcpclient.auth.",
      lines: kame.map((line) => ({ ...line, command: `dtcpclient ${line.command}` })),
    },
    {
      client: "dtcpc (Linux, this project)",
      note: "-l reconnects for ever; -n accepts a NAT between you and the broker. Reads /usr/local/etc/dtcpc.auth.",
      lines: linux,
    },
  ];
}
