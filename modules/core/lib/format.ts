// Human units and labels, the same on every page. Safe for client components.

const UNITS = ["", "k", "M", "G", "T", "P"];

function scaled(value: number): { n: string; unit: string } {
  let v = value;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  const n = i === 0 ? String(Math.round(v)) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  return { n, unit: UNITS[i]! };
}

/** 1234567 → "1.23 MB" (SI: as interface counters are usually read). */
export function formatBytes(bytes: number): string {
  const { n, unit } = scaled(bytes);
  return `${n} ${unit}B`;
}

/** Bytes per second → bits per second: 125000 → "1.00 Mbit/s". */
export function formatRate(bytesPerSecond: number): string {
  const { n, unit } = scaled(bytesPerSecond * 8);
  return `${n} ${unit}bit/s`;
}

export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

/** How long ago `then` was, at `now` (both epoch ms): "just now", "42 s ago", "5 min ago", "3 h 2 min ago", "2 d ago". */
export function formatAgo(then: number, now: number): string {
  const s = Math.max(0, Math.floor((now - then) / 1000));
  if (s < 2) return "just now";
  if (s < 60) return `${s} s ago`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min ago`;
  const h = Math.floor(min / 60);
  if (h < 24) return min % 60 === 0 ? `${h} h ago` : `${h} h ${min % 60} min ago`;
  return `${Math.floor(h / 24)} d ago`;
}

/** "2026-11-29 15:04:05 UTC", for titles. */
export function formatUtc(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/**
 * Session counters are kept from the broker's side: "in" arrived from the client, "out" went to
 * it. People read traffic from their own side, so every label names the direction by the client:
 * a user's uploads are what they sent, whatever the broker calls them.
 */
export const DIRECTION = {
  /** bytesIn, packetsIn, rateIn. */
  in: { user: "sent", admin: "from client" },
  /** bytesOut, packetsOut, rateOut. */
  out: { user: "received", admin: "to client" },
} as const;

/** "from client" → "From client", for a column heading. */
export function capitalised(words: string): string {
  return words === "" ? words : words[0]!.toUpperCase() + words.slice(1);
}

const TRANSPORT_NAMES: Record<string, string> = { proto41: "protocol 41", udp: "UDP", tcp: "TCP" };

/** How a session's packets travel, in words: "protocol 41", "UDP", "TCP". */
export function transportName(transport: string): string {
  return TRANSPORT_NAMES[transport] ?? transport;
}
