import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import type { Clock } from '../../time/clock.ts';
import type { AsyncGroupCommit } from '../store/asyncGroupCommit.ts';
import type { AsyncStore } from '../store/asyncStore.ts';
import type { EngineLeases } from '../store/engineLeases.ts';
import type { EngineSummary, StoredGap } from '../store/recordStore.ts';
import type { SessionEventSink, SessionRunHooks } from './engineView.ts';

/** Options of an `EngineSession` (the aggregator gives each engine one). */
export interface EngineSessionOptions {
  engineId: string;
  store: AsyncStore;
  clock: Clock;
  /** Ping period. */
  heartbeatMs: number;
  /** Silence (nothing at all received) after which the link counts as lost. */
  heartbeatTimeoutMs: number;
  logger: Logger;
  /** Where the session's events go (the aggregator). */
  events: SessionEventSink;
  /** What the store knew of the engine when the aggregator started, and its gaps. */
  summary?: EngineSummary;
  gaps?: StoredGap[];
  /** Told about hellos, persisted records and link changes, to reconcile the engine's runs. */
  runs?: SessionRunHooks;
  /** How long a command may wait for the engine's answer. Default 10 000 ms. */
  commandTimeoutMs?: number;
  /** Most items in one records frame; a larger frame closes the link (1008) and stores nothing. */
  maxRecordsPerFrame?: number;
  /** Records per second this engine may have ingested (over that, acknowledgements wait). */
  maxIngestRate?: number;
  /** The wait asked of an engine told `busy`. Default 5000 ms. */
  busyRetryAfterMs?: number;
  /** Receives the session machine's inspection events (Stately inspector). */
  inspect?: (event: InspectionEvent) => void;
  /**
   * Where records frames are committed: the aggregator shares one among its sessions, so that the
   * frames of every engine read in one turn of the event loop share one transaction. Default: one of
   * the session's own.
   */
  groupCommit?: AsyncGroupCommit;
  /** In a fleet: the engine's lease is taken with each hello and given up when its link ends. */
  leases?: Pick<EngineLeases, 'acquire' | 'release'>;
}
