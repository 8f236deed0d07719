// A scripted DTCP server that says whatever a test tells it to: the hostile broker (or the machine in
// the middle) of the hostile-server suite. Run in a namespace as
//   node --import tsx test/support/hostile-server.ts '<Script as JSON>'
// It prints one JSON event per line on stdout: ready, connect, line (what a client sent), closed.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";

export interface HostileScript {
  /** Plain DTCP; null: none. */
  plainPort: number | null;
  /** DTCP inside TLS, with this certificate. */
  tls?: { port: number; certFile: string; keyFile: string };
  /** The whole greeting; "{challenge}" becomes a fresh challenge. Default: KAME's. */
  greeting?: string;
  /** Instead of a greeting, a line of this many bytes that never ends. */
  endlessGreetingBytes?: number;
  /** The answer to `tunnel`; "{client}" becomes the client's IPv4 address as seen here, "{n}" the connection's number (from 1). */
  reply: string;
  /** Lines sent right after the reply. */
  after?: string[];
  /** This long after the reply, `-ERR` and close: the session ends (and a client with -l comes back). */
  endAfterMs?: number;
  /** Then this line, `count` times, as fast as the client takes them. */
  flood?: { line: string; count: number };
  /** IPv6 over TCP: a data listener; after `attach`, frames of these lengths (0x60 then zeros), then these raw bytes (hex), then silence. */
  data?: { port: number; frames: number[]; raw?: string };
}

const script = JSON.parse(process.argv[2]!) as HostileScript;
const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

function lines(socket: Socket, onLine: (text: string) => void): void {
  let partial = "";
  socket.setEncoding("latin1");
  socket.on("data", (text: string) => {
    const parts = (partial + text).split("\n");
    partial = parts.pop()!.slice(-4096);
    for (const part of parts) onLine(part.replace(/\r$/, ""));
  });
}

function write(socket: Socket, text: string | Buffer): Promise<void> {
  return new Promise((resolve) => (socket.write(text) ? resolve() : socket.once("drain", resolve)));
}

let connections = 0;

function control(listener: string) {
  return (socket: Socket) => {
    const n = ++connections;
    const client = (socket.remoteAddress ?? "").replace(/^::ffff:/, "");
    emit({ event: "connect", listener, client });
    socket.on("error", () => {});
    socket.on("close", () => emit({ event: "closed", listener }));
    const challenge = randomBytes(16).toString("hex").toUpperCase();
    if (script.endlessGreetingBytes !== undefined) {
      void (async () => {
        const chunk = Buffer.alloc(64 * 1024, 0x41);
        for (let sent = 0; sent < script.endlessGreetingBytes! && !socket.destroyed; sent += chunk.length) await write(socket, chunk);
        emit({ event: "flooded" });
      })();
    } else {
      socket.write(`${(script.greeting ?? "+OK {challenge} KAME tunnel server").replace("{challenge}", challenge)}\r\n`);
    }
    lines(socket, (text) => {
      emit({ event: "line", listener, text: text.replace(/^(tunnel \S+) \S+/, "$1 <response>") });
      const word = text.split(" ")[0]!.toLowerCase();
      if (word === "tunnel") void answer(socket, client, n);
      else if (word === "ping") socket.write("+OK hi, happy to hear from you\r\n");
      else if (word === "quit") socket.end("+OK see you soon.\r\n");
    });
  };
}

async function answer(socket: Socket, client: string, n: number): Promise<void> {
  await write(socket, `${script.reply.replace("{client}", client).replace("{n}", String(n))}\r\n`);
  for (const line of script.after ?? []) await write(socket, `${line}\r\n`);
  if (script.endAfterMs !== undefined) setTimeout(() => socket.end("-ERR connection timed out, disconnecting\r\n"), script.endAfterMs);
  if (script.flood) {
    const chunk = `${script.flood.line}\r\n`.repeat(1000);
    for (let sent = 0; sent < script.flood.count && !socket.destroyed; sent += 1000) await write(socket, chunk);
    emit({ event: "flooded" });
  }
}

function data(socket: Socket): void {
  emit({ event: "connect", listener: "data" });
  socket.on("error", () => {});
  socket.write("+OK 00000000000000000000000000000000 KAME tunnel server\r\n");
  lines(socket, (text) => {
    emit({ event: "line", listener: "data", text });
    if (!text.startsWith("attach ")) return;
    socket.write("+OK attached\r\n");
    for (const length of script.data!.frames) {
      const frame = Buffer.alloc(2 + length);
      frame.writeUInt16BE(length, 0);
      if (length > 0) frame[2] = 0x60;
      socket.write(frame);
    }
    if (script.data!.raw) socket.write(Buffer.from(script.data!.raw, "hex"));
    emit({ event: "frames sent" });
  });
}

const servers: Server[] = [];
const listen = (server: Server, port: number) => new Promise<void>((resolve) => server.listen(port, "0.0.0.0", resolve));
if (script.plainPort !== null) servers.push(createServer(control("plain")));
if (script.tls) servers.push(createTlsServer({ cert: readFileSync(script.tls.certFile), key: readFileSync(script.tls.keyFile) }, control("tls")));
if (script.data) servers.push(createServer(data));
const ports = [...(script.plainPort !== null ? [script.plainPort] : []), ...(script.tls ? [script.tls.port] : []), ...(script.data ? [script.data.port] : [])];
await Promise.all(servers.map((server, i) => listen(server, ports[i]!)));
emit({ event: "ready" });
process.on("SIGTERM", () => process.exit(0));
