// IPv6 packets built and read by tests: bare headers and ICMPv6 echo with a valid checksum.

import { parseIpv6, formatIpv6 } from "../../server/net/ipv6.ts";

const ICMPV6 = 58;
const NO_NEXT_HEADER = 59;
export const ECHO_REQUEST = 128;
export const ECHO_REPLY = 129;

function addressBytes(text: string): Buffer {
  return Buffer.from(parseIpv6(text).toString(16).padStart(32, "0"), "hex");
}

/** An IPv6 packet with the given payload (default: none, next header "no next header"). */
export function ipv6Packet(src: string, dst: string, payload = Buffer.alloc(0), nextHeader = NO_NEXT_HEADER): Buffer {
  const header = Buffer.alloc(40);
  header[0] = 0x60;
  header.writeUInt16BE(payload.length, 4);
  header[6] = nextHeader;
  header[7] = 64;
  addressBytes(src).copy(header, 8);
  addressBytes(dst).copy(header, 24);
  return Buffer.concat([header, payload]);
}

/** An ICMPv6 echo request (or reply) with its checksum over the pseudo-header. */
export function icmpv6Echo(src: string, dst: string, id: number, seq: number, data: Buffer, type = ECHO_REQUEST): Buffer {
  const icmp = Buffer.alloc(8 + data.length);
  icmp[0] = type;
  icmp.writeUInt16BE(id, 4);
  icmp.writeUInt16BE(seq, 6);
  data.copy(icmp, 8);
  const pseudo = Buffer.alloc(40);
  addressBytes(src).copy(pseudo, 0);
  addressBytes(dst).copy(pseudo, 16);
  pseudo.writeUInt32BE(icmp.length, 32);
  pseudo[39] = ICMPV6;
  icmp.writeUInt16BE(checksum(Buffer.concat([pseudo, icmp])), 2);
  return ipv6Packet(src, dst, icmp, ICMPV6);
}

function checksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The fields a test checks in a packet it received. */
export interface PacketSummary {
  src: string;
  dst: string;
  /** ICMPv6 type, or null for other packets. */
  icmpType: number | null;
  echoId: number | null;
  echoSeq: number | null;
}

export function summarize(p: Uint8Array): PacketSummary {
  const b = Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  const word = (at: number): bigint => BigInt("0x" + b.toString("hex", at, at + 16));
  const icmp = b[6] === ICMPV6 && b.length >= 48;
  const echo = icmp && (b[40] === ECHO_REQUEST || b[40] === ECHO_REPLY);
  return {
    src: formatIpv6(word(8)),
    dst: formatIpv6(word(24)),
    icmpType: icmp ? b[40]! : null,
    echoId: echo ? b.readUInt16BE(44) : null,
    echoSeq: echo ? b.readUInt16BE(46) : null,
  };
}
