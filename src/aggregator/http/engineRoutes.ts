import type { Aggregator } from '../aggregator.ts';
import { sendError, sendJson } from './httpErrors.ts';
import type { Route } from './router.ts';

/** `GET /healthz` (200, or 503 while the store is unavailable), `GET /api/engines` and `GET /api/engines/:id`. */
export function engineRoutes(aggregator: Aggregator): Route[] {
  return [
    {
      method: 'GET',
      path: '/healthz',
      // 503 while the store cannot be reached: nothing is acknowledged then (engines keep their links and
      // their frames wait in their outboxes).
      handler: ({ response }) => {
        const store = aggregator.storeAvailability;
        if (store.available) sendJson(response, 200, { ok: true, store: 'available' });
        else
          sendError(response, 'storeUnavailable', { ok: false, store: 'unavailable', reason: store.reason });
      },
    },
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
