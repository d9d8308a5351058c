import type { Aggregator } from '../aggregator.ts';
import type { StoredRunState } from '../store/runStore.ts';
import { sendError, sendJson } from './httpErrors.ts';
import type { Route } from './router.ts';

const STATES: readonly StoredRunState[] = ['active', 'unconfirmed', 'completed', 'failed', 'interrupted'];

/** The most runs one `GET /api/runs` lists (`limit`), and how many without one. */
export const MAX_RUNS_LIMIT = 10_000;
export const DEFAULT_RUNS_LIMIT = 500;

/** `GET /api/runs[?engine=ID&state=S,S&limit=N]` (limit 1 to 10 000, default 500) and `GET /api/runs/:id`. */
export function runRoutes(aggregator: Aggregator): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/runs',
      handler: async ({ response, url }) => {
        const engineId = url.searchParams.get('engine') ?? undefined;
        const stateParam = url.searchParams.get('state');
        const states = stateParam ? stateParam.split(',') : undefined;
        const bad = states?.find((s) => !STATES.includes(s as StoredRunState));
        if (bad) {
          sendError(response, 'badRequest', { message: `state must be among ${STATES.join(', ')}` });
          return;
        }
        const limit = Number(url.searchParams.get('limit') ?? DEFAULT_RUNS_LIMIT);
        if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RUNS_LIMIT) {
          sendError(response, 'badRequest', {
            message: `limit must be a whole number from 1 to ${MAX_RUNS_LIMIT}`,
          });
          return;
        }
        sendJson(
          response,
          200,
          await aggregator.listRuns({ engineId, states: states as StoredRunState[], limit }),
        );
      },
    },
    {
      method: 'GET',
      path: '/api/runs/:id',
      handler: async ({ response, params }) => {
        const run = await aggregator.run(params.id!);
        if (run) sendJson(response, 200, run);
        else sendError(response, 'unknownRun', { runId: params.id });
      },
    },
  ];
}
