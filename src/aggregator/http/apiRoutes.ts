import type { Aggregator } from '../aggregator.ts';
import { commandRoutes } from './commandRoutes.ts';
import { engineRoutes } from './engineRoutes.ts';
import { eventStreamRoutes } from './eventStreamRoutes.ts';
import type { Route } from './router.ts';
import { runRoutes } from './runRoutes.ts';

/** The aggregator's HTTP API, every route in one list (README: HTTP API). */
export function apiRoutes(aggregator: Aggregator): Route[] {
  return [
    ...engineRoutes(aggregator),
    ...runRoutes(aggregator),
    ...commandRoutes(aggregator),
    ...eventStreamRoutes(aggregator),
  ];
}
