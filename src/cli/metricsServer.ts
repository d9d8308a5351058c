import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, type Registry } from 'prom-client';
import { listenProblem } from '../aggregator/server.ts';
import { StartupError } from './args.ts';

/** A command's metrics (engine-link's own, from `metrics.registry`) with the process's beside them. */
export function processMetrics<T extends { registry: Registry }>(metrics: T): T {
  // process_cpu_seconds_total, process_resident_memory_bytes, nodejs_eventloop_lag_seconds, ...
  collectDefaultMetrics({ register: metrics.registry });
  return metrics;
}

export interface MetricsServer {
  /** Where the metrics are, such as `http://127.0.0.1:9464/metrics`. */
  url: string;
  close(): Promise<void>;
}

/**
 * `engine --metrics-port`: a server of its own for `GET /metrics` (also `HEAD`); anything else is 404.
 * A port it cannot listen on is a start-up error, in one line.
 */
export async function startMetricsServer(
  metrics: { registry: Registry },
  { host, port }: { host: string; port: number },
): Promise<MetricsServer> {
  const { registry } = metrics;
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response
        .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        .end('metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        response.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
        response.end(text);
      },
      (error: Error) => response.writeHead(500).end(`${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new StartupError(`--metrics-port: ${listenProblem(host, port, error)}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const authority = host.includes(':') ? `[${host}]:${address.port}` : `${host}:${address.port}`;
  return {
    url: `http://${authority}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
