import type { Aggregator } from '../aggregator/aggregator.ts';
import { EventStreamHub } from '../aggregator/http/eventStreamHub.ts';
import { sendError, sendJson } from '../aggregator/http/httpErrors.ts';
import type { Route } from '../aggregator/http/router.ts';
import { TelemetryFeed } from './engineTelemetry.ts';
import { loadDashboardAssets, sendAsset } from './staticAssets.ts';

/** Options of `dashboardRoutes`. */
export interface DashboardRoutesOptions {
  /**
   * Default: a feed over the aggregator with its default limits.
   *
   * @internal
   */
  telemetry?: TelemetryFeed;
}

/**
 * The status page and what it needs beyond the aggregator's own API:
 *
 * - `GET /`: the page; `GET /dashboard/:file`: its scripts and styles.
 * - `GET /api/telemetry`: every engine's recent samples per tag and newest state values (such as
 *   `hardware.<name>`); `GET /api/engines/:id/telemetry`: one engine's.
 * - `GET /api/telemetry/events`: server-sent events, a `snapshot` (as `/api/telemetry`, `{engines}`)
 *   then `telemetry` events with new points and changed states, at most every half second per engine;
 *   each update encoded once for every stream, streams bounded (see EventStreamHub).
 *
 * Link states, catch-up progress and runs come from the aggregator's `GET /api/events`.
 */
export function dashboardRoutes(aggregator: Aggregator, options: DashboardRoutesOptions = {}): Route[] {
  const assets = loadDashboardAssets();
  const telemetry = options.telemetry ?? new TelemetryFeed({ aggregator });
  const page = assets.get('index.html')!;
  const hub = new EventStreamHub({
    snapshot: async () => ({ event: 'snapshot', data: { engines: await telemetry.snapshot() } }),
    attach: () => telemetry.subscribe((update) => hub.broadcast('telemetry', update)),
  });
  return [
    { method: 'GET', path: '/', handler: ({ response }) => sendAsset(response, page) },
    {
      method: 'GET',
      path: '/dashboard/:file',
      handler: ({ response, params }) => {
        const asset = assets.get(params.file!);
        if (asset) sendAsset(response, asset);
        else sendError(response, 'notFound', { path: `/dashboard/${params.file}` });
      },
    },
    {
      method: 'GET',
      path: '/api/telemetry',
      handler: async ({ response }) => sendJson(response, 200, { engines: await telemetry.snapshot() }),
    },
    {
      method: 'GET',
      path: '/api/engines/:id/telemetry',
      handler: async ({ response, params }) => {
        const engine = await telemetry.engine(params.id!);
        if (engine) sendJson(response, 200, engine);
        else sendError(response, 'unknownEngine', { engineId: params.id });
      },
    },
    {
      method: 'GET',
      path: '/api/telemetry/events',
      handler: ({ request, response, eventStreams }) => hub.open(request, response, eventStreams),
    },
  ];
}
