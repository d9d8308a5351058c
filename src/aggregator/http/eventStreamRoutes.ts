import type { Aggregator } from '../aggregator.ts';
import { EventStreamHub } from './eventStreamHub.ts';
import type { Route } from './router.ts';

/**
 * `GET /api/events`: server-sent events for the front end. Event types: `engine` (link state changes),
 * `progress` (catch-up: persisted and target sequence; only the latest of an engine's waiting ones is
 * sent), `run` (run state changes), `store` (`{available, reason}`: the store, PostgreSQL, lost or back). Each connection first gets a `snapshot` event with every engine,
 * then changes as they happen; a comment line every 15 s keeps proxies from closing an idle stream.
 * EventSource reconnects by itself. Streams are bounded (see EventStreamSlots).
 */
export function eventStreamRoutes(aggregator: Aggregator): Route[] {
  const hub = new EventStreamHub({
    snapshot: () => ({
      event: 'snapshot',
      data: { engines: aggregator.engines(), store: storeState(aggregator) },
    }),
    attach: () => {
      const onEngine = (change: unknown) => hub.broadcast('engine', change);
      const onProgress = (progress: { engineId: string }) =>
        hub.broadcast('progress', progress, `progress:${progress.engineId}`);
      const onRun = (run: unknown) => hub.broadcast('run', run);
      aggregator.on('engineState', onEngine);
      aggregator.on('progress', onProgress);
      aggregator.on('run', onRun);
      const onStore = () => hub.broadcast('store', storeState(aggregator), 'store');
      aggregator.on('store', onStore);
      return () => {
        aggregator.off('store', onStore);
        aggregator.off('engineState', onEngine);
        aggregator.off('progress', onProgress);
        aggregator.off('run', onRun);
      };
    },
  });
  return [
    {
      method: 'GET',
      path: '/api/events',
      handler: ({ request, response, eventStreams }) => hub.open(request, response, eventStreams),
    },
  ];
}

function storeState(aggregator: Aggregator): { available: boolean; reason?: string } {
  const { available, reason } = aggregator.storeAvailability;
  return available ? { available } : { available, reason: reason ?? 'unknown' };
}
