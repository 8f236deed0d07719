// A DTCP client over TCP that misbehaves on its data connection, as a broker must survive: "stall"
// attaches and then never reads it; "oversize" sends a frame longer than any packet. Run inside a
// network namespace: stalled-tcp-client.ts <server> <port> <user> <password> [stall|oversize].
// Prints "attached <client IPv6>", then (oversize) "control: <the control connection's next line>",
// and waits to be killed.
import { connect, type Socket } from "node:net";
import { tunnelResponse } from "../../server/protocol/challenge.ts";

const [server, port, user, password, mode = "stall"] = process.argv.slice(2) as [string, string, string, string, string?];

function lines(socket: Socket): () => Promise<string> {
  let buffer = "";
  const waiting: ((line: string) => void)[] = [];
  socket.setEncoding("latin1");
  socket.on("data", (text: string) => {
    buffer += text;
    for (let i = buffer.indexOf("\n"); i >= 0 && waiting.length > 0; i = buffer.indexOf("\n")) {
      const line = buffer.slice(0, i).replace(/\r$/, "");
      buffer = buffer.slice(i + 1);
      waiting.shift()!(line);
    }
  });
  return () => new Promise((resolve) => waiting.push(resolve));
}

const control = connect({ host: server, port: Number(port) });
const next = lines(control);
const challenge = (await next()).split(" ")[1]!;
control.write(`tunnel ${user} ${tunnelResponse(user, challenge, password).toUpperCase()} host proto=tcp\r\n`);
const reply = await next();
const m = /^\+OK \S+ \S+ (\S+) \S+ tcp=(\d+) token=([0-9a-f]+)$/.exec(reply);
if (!m) throw new Error(`refused: ${reply}`);
const data = connect({ host: server, port: Number(m[2]) });
const nextData = lines(data);
await nextData();
data.write(`attach ${m[3]}\r\n`);
const attached = await nextData();
if (attached !== "+OK attached") throw new Error(attached);
process.stdout.write(`attached ${m[1]}\n`);
if (mode === "oversize") {
  data.write(Buffer.from([0xff, 0xff, 0x60, 0, 0, 0]));
  process.stdout.write(`control: ${await next()}\n`);
} else {
  // From here on nothing is read: the broker's packets pile up on its side.
  data.pause();
  setInterval(() => control.write("ping\r\n"), 10_000);
}
