import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import type { Clock } from '../time/clock.ts';
import { checkDuration, MAX_TIMER_MS } from '../time/timerBounds.ts';
import type { EngineTokens } from './auth/tokens.ts';
import type { AsyncStore } from './store/asyncStore.ts';
import type { FlushScheduler } from './store/flushScheduler.ts';
import type { SqliteStore } from './store/sqliteStore.ts';

/**
 * Options of the `Aggregator`: the store (required), the engines' authentication, the heartbeat, limits and
 * timeouts. Defaults are `AGGREGATOR_DEFAULTS`.
 */
export interface AggregatorOptions {
  /** Where records and runs are kept: a PostgreSQL store, or a SQLite one (used through AsyncSqliteStore). */
  store: AsyncStore | SqliteStore;
  clock?: Clock;
  /** Ping period towards engines (default 1000 ms). */
  heartbeatMs?: number;
  /** Silence after which an engine is unavailable (default 2500 ms). */
  heartbeatTimeoutMs?: number;
  /** Shared-secret mode: engines (those without a token of their own) present it as their bearer token. */
  secret?: string;
  /** Per-engine tokens (see tokens.ts): an engine listed must present its own token. */
  tokens?: EngineTokens;
  /** Most engines connected at once; one more is refused at the upgrade with 503 and Retry-After. */
  maxEngines?: number;
  /** Most items in one records frame (default 10 000); a larger frame closes the link with 1008. */
  maxRecordsPerFrame?: number;
  /** Records per second each engine may have ingested; over it, acknowledgements wait (default: no limit). */
  maxIngestRate?: number;
  /** The wait asked of engines refused for the engine limit or told `busy` (default 5000 ms, jittered up to 2x). */
  busyRetryAfterMs?: number;
  /** Randomness for the jitter of `busyRetryAfterMs` (tests pass a seeded one). */
  random?: () => number;
  /** Largest frame accepted from an engine (default 1 MiB). */
  maxFrameBytes?: number;
  /** How long a run may stay unconfirmed before it is declared interrupted (default 24 h). */
  abandonAfterMs?: number;
  /** How long a command waits for the engine's answer (default 10 s). */
  commandTimeoutMs?: number;
  logger?: Logger;
  /** Receives the inspection events of every engineSession and runReconciliation actor (Stately inspector). */
  inspect?: (event: InspectionEvent) => void;
  /**
   * When the group commit runs (default: after the current turn of the event loop). The simulation
   * (src/simulation/) passes its scheduler, so that a commit can come before or after any other event.
   *
   * @internal
   */
  groupCommitSchedule?: FlushScheduler;
  /**
   * In a fleet (a store with leases: PostgreSQL opened with a node id), how often this node renews its
   * engines' leases (default AGGREGATOR_DEFAULTS.fleet.leaseRenewMs; less than the lease).
   */
  leaseRenewMs?: number;
}

/**
 * Every duration option is a timer's delay: RangeError (naming the option) beyond what a timer can wait.
 * `busyRetryAfterMs` is jittered up to twice its value, so it gets half of that.
 */
export function checkAggregatorDurations(options: AggregatorOptions): void {
  checkDuration('heartbeatMs', options.heartbeatMs, 1);
  checkDuration('heartbeatTimeoutMs', options.heartbeatTimeoutMs, 1);
  checkDuration('busyRetryAfterMs', options.busyRetryAfterMs, 0, Math.floor(MAX_TIMER_MS / 2));
  checkDuration('abandonAfterMs', options.abandonAfterMs);
  checkDuration('commandTimeoutMs', options.commandTimeoutMs, 1);
  checkDuration('leaseRenewMs', options.leaseRenewMs, 1);
}
