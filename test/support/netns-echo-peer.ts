// Run by server/client/dtcpc.test.ts inside the broker's namespace, standing in for the server's data
// plane (the daemon runs there with --no-dataplane). Prints one JSON line when ready and one per
// packet received; answers each ICMPv6 echo request with an echo reply to where it came from.
//   udp <port> [reply-port]  — IPv6 over UDP on <port>; with reply-port, replies leave from that
//                              port instead (a client must drop them)
//   proto41                  — IP protocol 41

import { RawSocket41, UdpSocket, uint32ToIpv4 } from "../../server/dataplane/native.ts";

const ICMPV6 = 58;
const ECHO_REQUEST = 128;
const ECHO_REPLY = 129;

function isEchoRequest(p: Buffer): boolean {
  return p.length >= 48 && p[0]! >> 4 === 6 && p[6] === ICMPV6 && p[40] === ECHO_REQUEST;
}

/** The echo reply to an echo request: addresses swapped, type changed, checksum recomputed. */
function echoReply(request: Buffer): Buffer {
  const r = Buffer.from(request);
  request.copy(r, 8, 24, 40);
  request.copy(r, 24, 8, 24);
  r[40] = ECHO_REPLY;
  r.writeUInt16BE(0, 42);
  const body = r.subarray(40);
  // Pseudo-header (source, destination, length, next header) plus the ICMPv6 message.
  let sum = ICMPV6 + body.length;
  const add = (b: Buffer) => {
    for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  };
  add(r.subarray(8, 40));
  add(body);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  r.writeUInt16BE(~sum & 0xffff, 42);
  return r;
}

const print = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const one = Uint32Array.of(0);

const [mode, portText, replyPortText] = process.argv.slice(2);
if (mode === "udp") {
  const listen = new UdpSocket({
    port: Number(portText),
    onDatagrams(buf, offsets, lengths, addrs, ports, count) {
      for (let i = 0; i < count; i++) {
        const p = Buffer.from(buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!));
        const echo = isEchoRequest(p);
        print({ from: uint32ToIpv4(addrs[i]!), port: ports[i], length: p.length, echo });
        if (!echo) continue;
        const reply = echoReply(p);
        sender.sendBatch(reply, one, Uint32Array.of(reply.length), Uint32Array.of(addrs[i]!), Uint16Array.of(ports[i]!), 1);
      }
    },
  });
  const sender = replyPortText === undefined ? listen : new UdpSocket({ port: Number(replyPortText), onDatagrams() {} });
} else if (mode === "proto41") {
  const raw = new RawSocket41({
    onPackets(buf, offsets, lengths, addrs, count) {
      for (let i = 0; i < count; i++) {
        const p = Buffer.from(buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!));
        const echo = isEchoRequest(p);
        print({ from: uint32ToIpv4(addrs[i]!), length: p.length, echo });
        if (!echo) continue;
        const reply = echoReply(p);
        raw.sendBatch(reply, one, Uint32Array.of(reply.length), Uint32Array.of(addrs[i]!), 1);
      }
    },
  });
} else {
  throw new Error(`unknown mode ${mode}`);
}
print({ ready: true });
