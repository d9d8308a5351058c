import type { Aggregator } from '../aggregator.ts';
import { sendError, sendJson } from './httpErrors.ts';
import type { Route } from './router.ts';

/** `GET /healthz`, `GET /api/engines` and `GET /api/engines/:id`. */
export function engineRoutes(aggregator: Aggregator): Route[] {
  return [
    { method: 'GET', path: '/healthz', handler: ({ response }) => sendJson(response, 200, { ok: true }) },
    {
      method: 'GET',
      path: '/api/engines',
      handler: ({ response }) => sendJson(response, 200, aggregator.engines()),
    },
    {
      method: 'GET',
      path: '/api/engines/:id',
      handler: ({ response, params }) => {
        const engineId = params.id!;
        const view = aggregator.engine(engineId);
        if (view) sendJson(response, 200, view);
        else sendError(response, 'unknownEngine', { engineId });
      },
    },
  ];
}
