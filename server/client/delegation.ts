// dtcpc -P: numbering LAN interfaces from a network tunnel's delegated prefix, as dtcpc(8) does:
// `interface/SLA-id[/host-id[/prefixlen]]`, several separated by commas. The SLA-id (subnet number)
// fills the bits between the delegated prefix and prefixlen (default 64); the host-id is the
// router's own interface identifier on that subnet (default ::1). Pure: no I/O.
import { AddressError } from "../net/errors.ts";
import { formatIpv6, parseIpv6 } from "../net/ipv6.ts";
import { formatPrefix6, type Prefix6 } from "../net/prefix.ts";

export interface DelegationSpec {
  ifname: string;
  /** The subnet number. */
  slaId: bigint;
  /** The router's interface identifier on the subnet (the low bits of its address). */
  hostId: bigint;
  prefixLength: number;
}

/** One LAN interface numbered from the delegation. */
export interface LanNumbering {
  ifname: string;
  /** The LAN's prefix, canonical CIDR (what router advertisements announce). */
  prefix: string;
  /** This router's address on it, canonical. */
  address: string;
  prefixLength: number;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** Parses -P; throws an Error naming what is wrong. */
export function parseDelegationSpecs(text: string): DelegationSpec[] {
  return text.split(",").map((part) => {
    const fields = part.trim().split("/");
    const [ifname, sla, host, length] = fields;
    if (fields.length < 2 || fields.length > 4 || !ifname || !IFNAME.test(ifname)) {
      throw new Error(`-P wants interface/SLA-id[/host-id[/prefixlen]]; got "${part}"`);
    }
    const slaId = number(sla!, "SLA-id", part);
    const hostId = host === undefined || host === "" ? 1n : host.includes(":") ? interfaceId(host, part) : number(host, "host-id", part);
    const prefixLength = length === undefined ? 64 : Number(length);
    if (!Number.isInteger(prefixLength) || prefixLength < 1 || prefixLength > 127) throw new Error(`-P: prefixlen must be 1..127; got "${length}" in "${part}"`);
    return { ifname, slaId, hostId, prefixLength };
  });
}

/** Decimal, or hexadecimal after 0x. */
function number(text: string, what: string, part: string): bigint {
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(text)) throw new Error(`-P: the ${what} must be a number (decimal, or hex after 0x); got "${text}" in "${part}"`);
  return BigInt(text);
}

/** An interface identifier written as an IPv6 address (::1, ::a:b:c:d). */
function interfaceId(text: string, part: string): bigint {
  try {
    return parseIpv6(text);
  } catch (err) {
    if (err instanceof AddressError) throw new Error(`-P: host-id "${text}" in "${part}": ${err.message}`);
    throw err;
  }
}

/** Each interface's prefix and address within `delegated`; throws when a spec does not fit it. */
export function numberLans(delegated: Prefix6, specs: readonly DelegationSpec[]): LanNumbering[] {
  const seen = new Set<string>();
  return specs.map((spec) => {
    const subnetBits = spec.prefixLength - delegated.length;
    if (subnetBits < 0) throw new Error(`-P ${spec.ifname}: a /${spec.prefixLength} does not fit in the delegated ${formatPrefix6(delegated)}`);
    if (spec.slaId >= 1n << BigInt(subnetBits)) {
      throw new Error(`-P ${spec.ifname}: SLA-id ${spec.slaId} does not fit in the ${subnetBits} bits between /${delegated.length} and /${spec.prefixLength}`);
    }
    const hostBits = 128 - spec.prefixLength;
    if (spec.hostId === 0n || spec.hostId >= 1n << BigInt(hostBits)) throw new Error(`-P ${spec.ifname}: host-id must be 1 .. 2^${hostBits}-1`);
    const network = delegated.address | (spec.slaId << BigInt(hostBits));
    const prefix = formatPrefix6({ address: network, length: spec.prefixLength });
    if (seen.has(spec.ifname)) throw new Error(`-P names ${spec.ifname} twice`);
    seen.add(spec.ifname);
    return { ifname: spec.ifname, prefix, address: formatIpv6(network | spec.hostId), prefixLength: spec.prefixLength };
  });
}

/**
 * What LAN hosts are told to keep, in seconds. Short while running, so that what a dtcpc that died
 * without a word announced goes soon: advertisements come every 10 s at most.
 */
export interface AdvertisedLifetimes {
  /** As the LAN's default router. */
  router: number;
  /** Of the prefix, for addresses made from it (RFC 4862 keeps a valid lifetime of at least 2 hours once it was longer). */
  valid: number;
  preferred: number;
}

export const RUNNING_LIFETIMES: AdvertisedLifetimes = { router: 90, valid: 900, preferred: 300 };
/**
 * The last advertisement, at exit and whenever the prefix goes: no longer a router, the prefix
 * deprecated, its on-link route gone at once, and addresses kept no longer than hosts must.
 */
export const GOODBYE_LIFETIMES: AdvertisedLifetimes = { router: 0, valid: 0, preferred: 0 };

/** radvd's configuration announcing each LAN prefix on its interface (hosts configure themselves with SLAAC). */
export function radvdConfig(lans: readonly LanNumbering[]): string {
  const { router, valid, preferred } = RUNNING_LIFETIMES;
  return lans
    .map(
      (lan) => `interface ${lan.ifname} {
  AdvSendAdvert on;
  MinRtrAdvInterval 3;
  MaxRtrAdvInterval 10;
  AdvDefaultLifetime ${router};
  prefix ${lan.prefix} {
    AdvOnLink on;
    AdvAutonomous on;
    AdvValidLifetime ${valid};
    AdvPreferredLifetime ${preferred};
  };
};
`,
    )
    .join("");
}

/**
 * An ICMPv6 router advertisement (RFC 4861) announcing one LAN prefix for SLAAC, this router as
 * the LAN's default router and the tunnel's MTU, with the given lifetimes. The checksum is left at
 * zero: a raw ICMPv6 socket has the kernel fill it in.
 */
export function routerAdvertisement(lan: LanNumbering, mtu: number, lifetimes: AdvertisedLifetimes = RUNNING_LIFETIMES): Uint8Array {
  const ra = Buffer.alloc(16 + 8 + 32);
  ra[0] = 134; // router advertisement
  ra[4] = 64; // current hop limit
  ra.writeUInt16BE(lifetimes.router, 6); // router lifetime (s)
  // MTU option
  ra[16] = 5;
  ra[17] = 1;
  ra.writeUInt32BE(mtu, 20);
  // Prefix information option: on-link and autonomous
  ra[24] = 3;
  ra[25] = 4;
  ra[26] = lan.prefixLength;
  ra[27] = 0xc0;
  ra.writeUInt32BE(lifetimes.valid, 28);
  ra.writeUInt32BE(lifetimes.preferred, 32);
  const prefix = parseIpv6(lan.prefix.split("/")[0]!);
  for (let i = 0; i < 16; i++) ra[40 + i] = Number((prefix >> BigInt(8 * (15 - i))) & 0xffn);
  return ra;
}
