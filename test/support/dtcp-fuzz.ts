// Hostile inputs for the DTCP port, over real TCP on loopback: each input is one connection from a
// loopback address of its own, with a script of what it sends and how it behaves (reads or not,
// closes, half-closes, trickles). Used by test/dtcp-fuzz.test.ts (a bounded run) and
// bench/fuzz-dtcp.ts (npm run fuzz:dtcp, the long one). Every byte the server sends back is checked.
import { connect, type Socket } from "node:net";
import { tunnelResponse } from "../../server/protocol/challenge.ts";

/** A small seeded generator (mulberry32), so a failing run can be repeated with its seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Behaviour = "read" | "no-read" | "half-close" | "trickle" | "abort";

export interface FuzzInput {
  /** Chunks written one after another. */
  chunks: Buffer[];
  behaviour: Behaviour;
}

const WORDS = ["tunnel", "TUNNEL", "ping", "PING", "help", "quit", "Quit", "host", "network", "tunnelonly", "tunnelroute", "proto=udp", "port=", "nat", "proto=", "=", "\t", " "];

function pick<T>(rnd: () => number, items: readonly T[]): T {
  return items[Math.floor(rnd() * items.length)]!;
}

function randomBytes(rnd: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

function randomWord(rnd: () => number): string {
  const r = rnd();
  if (r < 0.5) return pick(rnd, WORDS);
  if (r < 0.7) return String(Math.floor(rnd() * 100_000));
  if (r < 0.85) return randomBytes(rnd, 1 + Math.floor(rnd() * 12)).toString("latin1").replace(/[\r\n]/g, "");
  return "x".repeat(Math.floor(rnd() * 80));
}

/** One hostile input; `user` and `password` let some of them log in for real. */
export function fuzzInput(rnd: () => number, user: { name: string; password: string } | null): FuzzInput {
  const ending = pick(rnd, ["\r\n", "\n", "\r", ""]);
  const kind = rnd();
  let text: Buffer;
  if (kind < 0.2) {
    text = randomBytes(rnd, Math.floor(rnd() * 300));
  } else if (kind < 0.3) {
    // Long lines, terminated or not.
    text = Buffer.from("A".repeat(900 + Math.floor(rnd() * 4_000)) + (rnd() < 0.5 ? "\n" : ""), "latin1");
  } else if (kind < 0.75) {
    const lines = Array.from({ length: 1 + Math.floor(rnd() * 6) }, () =>
      Array.from({ length: Math.floor(rnd() * 7) }, () => randomWord(rnd)).join(pick(rnd, [" ", "  ", "\t"])),
    );
    text = Buffer.from(lines.join(ending) + ending, "latin1");
  } else if (kind < 0.85 && user !== null) {
    // A login attempt with a response that is right for some other challenge: refused, throttled.
    const response = tunnelResponse(user.name, "0".repeat(32), user.password);
    text = Buffer.from(`tunnel ${user.name} ${response} ${pick(rnd, ["host", "network", "tunnelonly"])}${rnd() < 0.3 ? " proto=udp" : ""}\r\nping\r\n`, "latin1");
  } else {
    // Pipelining: the same command many times in one go.
    text = Buffer.from(pick(rnd, ["help\n", "ping\r\n", "\n", "bogus\n"]).repeat(50 + Math.floor(rnd() * 2_000)), "latin1");
  }
  const behaviour = pick(rnd, ["read", "read", "no-read", "half-close", "trickle", "abort"] as const);
  const chunks: Buffer[] = [];
  if (behaviour === "trickle") {
    for (let i = 0; i < Math.min(text.length, 40); i++) chunks.push(text.subarray(i, i + 1));
  } else {
    let at = 0;
    while (at < text.length) {
      const size = 1 + Math.floor(rnd() * Math.max(1, text.length));
      chunks.push(text.subarray(at, at + size));
      at += size;
    }
  }
  return { chunks, behaviour };
}

export interface FuzzStats {
  inputs: number;
  /** Server lines that are not one "+OK …" or "-ERR …" line. */
  malformedReplies: string[];
  /** Connections that could not be made or got no greeting. */
  unserved: number;
}

const REPLY = /^[+-](OK|ERR)[^\r\n]*$/;
const GREETING = /^\+OK [0-9A-F]{32} KAME tunnel server$/;

/** Runs one input and checks what came back. */
export async function runInput(port: number, localAddress: string, input: FuzzInput, stats: FuzzStats, settleMs = 300): Promise<void> {
  let socket: Socket;
  try {
    socket = connect({ host: "127.0.0.1", port, localAddress, allowHalfOpen: true });
  } catch {
    stats.unserved++;
    return;
  }
  let received = "";
  socket.setEncoding("latin1");
  if (input.behaviour !== "no-read") socket.on("data", (t: string) => (received += t.length + received.length > 1 << 20 ? "" : t));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => {});
  const connected = await new Promise<boolean>((resolve) => {
    socket.once("connect", () => resolve(true));
    socket.once("error", () => resolve(false));
  });
  if (!connected) {
    stats.unserved++;
    return;
  }
  for (const chunk of input.chunks) {
    if (socket.destroyed) break;
    socket.write(chunk);
    if (input.behaviour === "trickle") await new Promise((r) => setTimeout(r, 2));
  }
  if (input.behaviour === "abort") socket.destroy();
  else if (input.behaviour === "half-close") socket.end();
  await Promise.race([closed, new Promise((r) => setTimeout(r, settleMs))]);
  socket.destroy();
  stats.inputs++;
  if (input.behaviour === "no-read") return;
  const lines = received.split("\r\n");
  const rest = lines.pop();
  if (lines.length === 0) {
    // A connection we aborted at once may close before its greeting arrives.
    if (input.behaviour !== "abort" && received !== "") stats.malformedReplies.push(JSON.stringify(received.slice(0, 200)));
    return;
  }
  if (!GREETING.test(lines[0]!) && lines[0] !== "-ERR too many connections from your address") stats.malformedReplies.push(`greeting: ${JSON.stringify(lines[0]!.slice(0, 200))}`);
  for (const line of lines.slice(1)) if (!REPLY.test(line)) stats.malformedReplies.push(JSON.stringify(line.slice(0, 200)));
  if (rest !== "" && rest !== undefined) stats.malformedReplies.push(`unterminated: ${JSON.stringify(rest.slice(0, 200))}`);
}

/** A loopback address for the n-th input: spread over many, as an attack from many hosts would be. */
export function sourceAddress(n: number): string {
  return `127.${10 + ((n >> 16) & 0x7f)}.${(n >> 8) & 0xff}.${1 + (n & 0xff) % 254}`;
}

/**
 * A real user who logs in once and pings every `everyMs` for as long as `keepGoing` says, from an
 * address of their own; counts the pings that did not get their answer in time.
 */
export async function steadyUser(port: number, name: string, password: string, keepGoing: () => boolean, everyMs = 200, localAddress = "127.9.9.9") {
  const socket = connect({ host: "127.0.0.1", port, localAddress });
  socket.setEncoding("latin1");
  socket.on("error", () => {});
  let buffer = "";
  const waiting: ((line: string | null) => void)[] = [];
  socket.on("data", (t: string) => {
    buffer += t;
    for (let i = buffer.indexOf("\r\n"); i !== -1; i = buffer.indexOf("\r\n")) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      waiting.shift()?.(line);
    }
  });
  socket.on("close", () => {
    for (const w of waiting.splice(0)) w(null);
  });
  const line = (ms: number) =>
    new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), ms);
      waiting.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
  // Bounds on liveness, not speed: generous, since other tests may load the two cores meanwhile.
  const greeting = await line(20_000);
  const challenge = greeting?.split(" ")[1] ?? "";
  socket.write(`tunnel ${name} ${tunnelResponse(name, challenge, password).toUpperCase()} tunnelonly\r\n`);
  const reply = await line(20_000);
  let pings = 0;
  let missed = 0;
  let worstMs = 0;
  while (keepGoing() && !socket.destroyed) {
    const started = Date.now();
    socket.write("ping\r\n");
    const pong = await line(10_000);
    pings++;
    if (pong !== "+OK hi, happy to hear from you") missed++;
    worstMs = Math.max(worstMs, Date.now() - started);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  socket.destroy();
  return { loggedIn: reply?.startsWith("+OK ") ?? false, reply, pings, missed, worstMs };
}
