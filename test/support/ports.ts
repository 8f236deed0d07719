import { readFileSync } from "node:fs";
import { createServer } from "node:net";

// Ports are picked below the kernel's ephemeral range: a port from inside it, free when picked, can
// be handed to any outgoing connection (a database client, a browser) before the test listens on it.
const FIRST = 10_000;
const EPHEMERAL_LOW = (() => {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  } catch {
    return 32_768;
  }
})();

/** A TCP port on 127.0.0.1 that was free a moment ago, outside the ephemeral range where it can be. */
export async function freePort(): Promise<number> {
  if (EPHEMERAL_LOW - FIRST >= 1_000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = FIRST + Math.floor(Math.random() * (EPHEMERAL_LOW - FIRST));
      if (await canListen(port)) return port;
    }
  }
  return canListen(0) as Promise<number>;
}

/** Listens on 127.0.0.1:port and closes again: the port it got, or false when it was taken. */
function canListen(port: number): Promise<number | false> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (err: NodeJS.ErrnoException) => (err.code === "EADDRINUSE" || err.code === "EACCES" ? resolve(false) : reject(err)));
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
