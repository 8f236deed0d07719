// /proc/net/if_inet6: one IPv6 address per line, as
//   <address, 32 hex> <ifindex hex> <prefix length hex> <scope hex> <flags hex> <device>
const SCOPE_GLOBAL = 0x00;
/** IFA_F_PERMANENT: configured by hand or a static network configuration, not learnt with a lifetime. */
const IFA_F_PERMANENT = 0x80;

/**
 * The devices holding a global address with a lifetime (autoconfigured from router advertisements,
 * or leased): the ones whose configuration depends on receiving router advertisements.
 */
export function devicesWithLearntAddresses(ifInet6: string): Set<string> {
  const devices = new Set<string>();
  for (const line of ifInet6.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length !== 6) continue;
    const scope = parseInt(fields[3]!, 16);
    const flags = parseInt(fields[4]!, 16);
    if (scope === SCOPE_GLOBAL && (flags & IFA_F_PERMANENT) === 0) devices.add(fields[5]!);
  }
  return devices;
}
