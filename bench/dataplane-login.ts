// The control side of bench/dataplane.ts's tunnel client: runs inside the client namespace (so
// that the daemon sees the same IPv4 address on the control connection as on the tunnel packets,
// which strict outer-source checking requires) and holds DTCP sessions open for the whole run.
//
//   ip netns exec <client> node --import tsx bench/dataplane-login.ts <server> <port> <user>:<type>[:<option>,…[:<local address>]] …
//
// Reads the (common) password from the first line of stdin. For each session: connect, read the
// challenge, `tunnel <user> <md5> <type> [options]`, and print `<user> <reply>` (one line each, in
// order; an -ERR reply or a failure ends the process with status 1). Sends `ping` every 30 s (the
// daemon drops a session after 300 s of silence). When stdin closes or on SIGTERM/SIGINT, sends
// `quit` on each connection and exits.
import { connect, type Socket } from "node:net";
import { tunnelResponse } from "../server/protocol/challenge.ts";

const [server, portText, ...specs] = process.argv.slice(2);
if (!server || !portText || specs.length === 0) {
  process.stderr.write("usage: dataplane-login.ts <server> <port> <user>:<type>[:<option>,…[:<local address>]] …\n");
  process.exit(2);
}

/** A control connection that hands out its lines one at a time. */
class Control {
  readonly #socket: Socket;
  #buffer = "";
  readonly #lines: string[] = [];
  #waiter: ((line: string | null) => void) | null = null;
  #closed = false;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (text: string) => {
      this.#buffer += text;
      for (let i = this.#buffer.indexOf("\n"); i !== -1; i = this.#buffer.indexOf("\n")) {
        this.#push(this.#buffer.slice(0, i).replace(/\r$/, ""));
        this.#buffer = this.#buffer.slice(i + 1);
      }
    });
    socket.on("close", () => {
      this.#closed = true;
      this.#waiter?.(null);
      this.#waiter = null;
    });
    socket.on("error", () => {});
  }

  #push(line: string): void {
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = null;
      w(line);
    } else {
      this.#lines.push(line);
    }
  }

  readLine(): Promise<string | null> {
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  send(line: string): void {
    if (!this.#closed) this.#socket.write(`${line}\r\n`, "latin1");
  }

  end(): void {
    this.send("quit");
    this.#socket.end();
  }
}

async function readPassword(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const nl = text.indexOf("\n");
      if (nl >= 0) {
        process.stdin.off("data", onData);
        resolve(text.slice(0, nl));
      }
    };
    process.stdin.on("data", onData);
    process.stdin.once("end", () => reject(new Error("no password on stdin")));
  });
}

async function login(password: string, spec: string): Promise<Control> {
  const [user = "", type = "", options = "", local] = spec.split(":");
  // A protocol-41 session is its client's address: several of them need several local addresses.
  const socket = connect({ host: server!, port: Number(portText), ...(local ? { localAddress: local } : {}) });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const control = new Control(socket);
  const greeting = await control.readLine();
  const challenge = greeting?.split(" ")[1];
  if (!greeting?.startsWith("+OK ") || !challenge) throw new Error(`${user}: unexpected greeting ${JSON.stringify(greeting)}`);
  const extra = options === "" ? "" : ` ${options.split(",").join(" ")}`;
  control.send(`tunnel ${user} ${tunnelResponse(user, challenge, password)} ${type}${extra}`);
  const reply = await control.readLine();
  if (!reply?.startsWith("+OK ")) throw new Error(`${user}: ${reply ?? "connection closed"}`);
  process.stdout.write(`${user} ${reply}\n`);
  // Pings are answered; the answers are not needed.
  void (async () => {
    while ((await control.readLine()) !== null) {}
  })();
  return control;
}

const controls: Control[] = [];
const finish = (code: number) => {
  for (const c of controls) c.end();
  setTimeout(() => process.exit(code), 100).unref();
};
process.once("SIGTERM", () => finish(0));
process.once("SIGINT", () => finish(0));

try {
  const password = await readPassword();
  for (const spec of specs) controls.push(await login(password, spec));
  const pinger = setInterval(() => controls.forEach((c) => c.send("ping")), 30_000);
  process.stdin.once("end", () => {
    clearInterval(pinger);
    finish(0);
  });
  process.stdin.resume();
} catch (err) {
  process.stderr.write(`dataplane-login: ${(err as Error).message}\n`);
  finish(1);
}
