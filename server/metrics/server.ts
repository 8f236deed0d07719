// The /metrics endpoint. Each scrape asks every source for its current figures.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CONTENT_TYPE, formatExposition, type MetricFamily, type MetricsSource } from "./exposition.ts";
import { boundedHttpOptions, limitConnections } from "../net/connection-limits.ts";

/** A scraper needs a connection or two; a listener on a public address must not give out more. */
const METRICS_LIMITS = { maxUnauthenticatedPerAddress: 16, maxUnauthenticated: 128 };
const REQUEST_TIMEOUT_MS = 10_000;

export interface MetricsServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics on host:port (port 0 picks one). `labels` go on every sample (the POP's
 * name), so that one Prometheus tells the daemons of several POPs apart.
 */
export async function startMetricsServer(
  listen: { host: string; port: number },
  sources: readonly MetricsSource[],
  labels: Readonly<Record<string, string>> = {},
  warn: (message: string) => void = (m) => process.stderr.write(`${m}\n`),
): Promise<MetricsServer> {
  const server: Server = createServer(boundedHttpOptions(REQUEST_TIMEOUT_MS), (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: the metrics are at /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    let body: string;
    try {
      body = formatExposition(withLabels(sources.flatMap((s) => s.collectMetrics()), labels));
    } catch (err) {
      res.writeHead(500, { "content-type": "text/plain" }).end(`metrics unavailable: ${(err as Error).message}\n`);
      return;
    }
    res.writeHead(200, { "content-type": CONTENT_TYPE, "content-length": Buffer.byteLength(body) });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  limitConnections(server, METRICS_LIMITS, "metrics", warn);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function withLabels(families: MetricFamily[], labels: Readonly<Record<string, string>>): MetricFamily[] {
  if (Object.keys(labels).length === 0) return families;
  return families.map((f) => ({ ...f, samples: f.samples.map((s) => ({ ...s, labels: { ...labels, ...s.labels } })) }));
}
