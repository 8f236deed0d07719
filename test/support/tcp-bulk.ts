// A bulk TCP transfer both ways, run inside a namespace by test/netns-offload.test.ts:
//   node --import tsx test/support/tcp-bulk.ts serve <address> <port> <bytes>
//     accepts one connection, hashes what it receives until the peer half-closes, then sends
//     <bytes> of the pattern and closes; prints "ready" once listening and "received <n> <sha256>".
//   node --import tsx test/support/tcp-bulk.ts send <address> <port> <bytes>
//     sends <bytes> of the pattern, half-closes, hashes what comes back; prints
//     "sent <n> <sha256>" and "received <n> <sha256>".
// The pattern is deterministic and not compressible, so both ends can name its hash.
import { createHash } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";

const [mode, address, portText, bytesText] = process.argv.slice(2);
const port = Number(portText);
const total = Number(bytesText);

/** The pattern's bytes from offset 0 in 64 KB chunks (xorshift32 words). */
function* pattern(bytes: number): Generator<Buffer> {
  let x = 0x9e3779b9;
  for (let left = bytes; left > 0; ) {
    const chunk = Buffer.alloc(Math.min(65536, left));
    for (let i = 0; i + 4 <= chunk.length; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      chunk.writeUInt32LE(x >>> 0, i);
    }
    left -= chunk.length;
    yield chunk;
  }
}

/** Writes the pattern with back-pressure, then half-closes; resolves with its hash. */
async function sendPattern(socket: Socket, bytes: number): Promise<string> {
  const hash = createHash("sha256");
  for (const chunk of pattern(bytes)) {
    hash.update(chunk);
    if (!socket.write(chunk)) await new Promise((r) => socket.once("drain", r));
  }
  socket.end();
  return hash.digest("hex");
}

/** Hashes everything read until the peer's end. */
function receiveAll(socket: Socket): Promise<[number, string]> {
  const hash = createHash("sha256");
  let n = 0;
  socket.on("data", (d: Buffer) => {
    n += d.length;
    hash.update(d);
  });
  return new Promise((resolve, reject) => {
    socket.once("end", () => resolve([n, hash.digest("hex")]));
    socket.once("error", reject);
  });
}

if (mode === "serve") {
  // Half-open: the client's end of sending does not end the reply.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    void receiveAll(socket).then(async ([n, sha]) => {
      console.log(`received ${n} ${sha}`);
      await sendPattern(socket, total);
      server.close();
    });
  });
  server.listen(port, address, () => console.log("ready"));
} else if (mode === "send") {
  const socket = connect({ host: address, port, allowHalfOpen: true });
  socket.once("connect", () => {
    const received = receiveAll(socket);
    void sendPattern(socket, total).then(async (sha) => {
      console.log(`sent ${total} ${sha}`);
      const [n, back] = await received;
      console.log(`received ${n} ${back}`);
    });
  });
  socket.once("error", (err) => {
    console.error(err.message);
    process.exitCode = 1;
  });
} else {
  console.error("usage: tcp-bulk.ts serve|send <address> <port> <bytes>");
  process.exitCode = 2;
}
