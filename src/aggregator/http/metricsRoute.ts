import type { Registry } from 'prom-client';
import type { Route } from './router.ts';

/** `GET /metrics`: the registry's metrics in the Prometheus text format. */
export function metricsRoute(registry: Registry): Route {
  return {
    method: 'GET',
    path: '/metrics',
    handler: async ({ response }) => {
      const text = await registry.metrics();
      response.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      response.end(text);
    },
  };
}
