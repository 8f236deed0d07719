import { connect, type Socket } from "node:net";
import { connect as connectTls } from "node:tls";
import { tunnelResponse } from "../../server/protocol/challenge.ts";

export type Dialect = "kame" | "python";

/**
 * A scripted DTCP client speaking over real TCP. Dialects as seen in the wild:
 * KAME sends CRLF and an uppercase hash; the Python client LF and a lowercase hash.
 */
export class DtcpClient {
  greeting = "";
  challenge = "";
  #buffer = Buffer.alloc(0);
  /** Once attached: what arrived after the `+OK attached` line (framed packets). */
  #binary = false;
  readonly received: Buffer[] = [];
  #waiters: ((line: string | null) => void)[] = [];
  #lines: (string | null)[] = [];
  #closed = false;

  private constructor(
    readonly socket: Socket,
    readonly dialect: Dialect,
  ) {}

  static async connect(port: number, dialect: Dialect = "kame", localAddress = "127.0.0.1", tls = false): Promise<DtcpClient> {
    // Over TLS the test pins nothing: what it checks is the broker's side.
    const tcp = connect({ host: "127.0.0.1", port, localAddress });
    const socket = tls ? connectTls({ socket: tcp, rejectUnauthorized: false }) : tcp;
    await new Promise<void>((resolve, reject) => {
      socket.once(tls ? "secureConnect" : "connect", resolve);
      socket.once("error", reject);
    });
    const client = new DtcpClient(socket, dialect);
    socket.on("data", (chunk: Buffer) => client.#feed(chunk));
    socket.on("close", () => client.#end());
    socket.on("error", () => {});
    const greeting = await client.readLine();
    if (greeting === null) throw new Error("closed before the greeting");
    client.greeting = greeting;
    client.challenge = greeting.split(" ")[1] ?? "";
    return client;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a line with the dialect's ending; `raw` sends the text exactly as given. */
  send(line: string, raw = false): void {
    this.socket.write(raw ? line : line + (this.dialect === "kame" ? "\r\n" : "\n"), "latin1");
  }

  async command(line: string, raw = false): Promise<string | null> {
    this.send(line, raw);
    return this.readLine();
  }

  async tunnel(user: string, password: string, type: string, extra = ""): Promise<string | null> {
    let response = tunnelResponse(user, this.challenge, password);
    if (this.dialect === "kame") response = response.toUpperCase();
    return this.command(`tunnel ${user} ${response} ${type}${extra ? ` ${extra}` : ""}`);
  }

  /** Next line from the server, or null once the connection has closed. */
  readLine(timeoutMs = 5_000): Promise<string | null> {
    const ready = this.#lines.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line from the server within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  }

  /** Resolves when the server has closed the connection. */
  async waitClosed(timeoutMs = 5_000): Promise<void> {
    for (;;) if ((await this.readLine(timeoutMs)) === null) return;
  }

  close(): void {
    this.socket.destroy();
  }

  /** Sends `attach <token>`: on `+OK attached` what follows is framed packets (in `received`). */
  attach(token: string): Promise<string | null> {
    return this.command(`attach ${token}`);
  }

  #feed(chunk: Buffer): void {
    if (this.#binary) {
      this.received.push(chunk);
      return;
    }
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (let i = this.#buffer.indexOf(0x0a); i !== -1; i = this.#binary ? -1 : this.#buffer.indexOf(0x0a)) {
      const line = this.#buffer.subarray(0, i).toString("latin1").replace(/\r$/, "");
      this.#buffer = this.#buffer.subarray(i + 1);
      if (line === "+OK attached") {
        // The lines end here: what follows is framed packets.
        this.#binary = true;
        if (this.#buffer.length > 0) this.received.push(this.#buffer);
        this.#buffer = Buffer.alloc(0);
      }
      this.#deliver(line);
    }
  }

  #end(): void {
    this.#closed = true;
    this.#deliver(null);
  }

  #deliver(line: string | null): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(line);
    else this.#lines.push(line);
  }
}
