import type { Aggregator } from './aggregator.ts';
import type { Route } from './httpApi.ts';

/**
 * `GET /api/events`: server-sent events for the front end. Event types: `engine` (link state changes),
 * `progress` (catch-up: persisted and target sequence), `run` (run state changes). Each connection first
 * gets a `snapshot` event with every engine, then changes as they happen; a comment line every 15 s
 * keeps proxies from closing an idle stream. EventSource reconnects by itself.
 */
export function eventStreamRoutes(aggregator: Aggregator): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/events',
      handler: ({ request, response }) => {
        response.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'keep-alive',
        });
        const write = (event: string, data: unknown) =>
          response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        write('snapshot', { engines: aggregator.engines() });
        const onEngine = (change: unknown) => write('engine', change);
        const onProgress = (progress: unknown) => write('progress', progress);
        const onRun = (run: unknown) => write('run', run);
        aggregator.on('engineState', onEngine);
        aggregator.on('progress', onProgress);
        aggregator.on('run', onRun);
        const keepAlive = setInterval(() => response.write(': keep-alive\n\n'), 15_000);
        keepAlive.unref();
        const stop = () => {
          clearInterval(keepAlive);
          aggregator.off('engineState', onEngine);
          aggregator.off('progress', onProgress);
          aggregator.off('run', onRun);
        };
        request.on('close', stop);
        response.on('close', stop);
      },
    },
  ];
}
