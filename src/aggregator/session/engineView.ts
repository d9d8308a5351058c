import type { ErrorCode } from '../../protocol/errors.ts';
import type { RunSnapshot } from '../../protocol/messages.ts';
import type { Item } from '../../protocol/records.ts';
import type { StoredGap } from '../store/recordStore.ts';

/** Whether the aggregator can reach an engine, as users are shown it (the `link` of the API). */
export type EngineAvailability = 'available' | 'unavailable' | 'catching-up' | 'offline';

/** What the aggregator tells about one engine (the HTTP API serves it as JSON). */
export interface EngineView {
  id: string;
  link: EngineAvailability;
  /** When the engine entered `link`, ms since the Unix epoch (aggregator clock). */
  since: number;
  /** The epoch of its last hello (null: it never said hello). */
  epoch: string | null;
  /** Highest sequence number persisted for that epoch. */
  persistedSeq: number;
  /** The end of its backlog when it last said hello (never below persistedSeq). */
  targetSeq: number;
  /** Records stored over all epochs. */
  persistedCount: number;
  /** Items received again and ignored, over all epochs. */
  duplicatesIgnored: number;
  gaps: StoredGap[];
  /** When a frame from the engine was last received, ms since the Unix epoch (null: never). */
  lastSeenAt: number | null;
  /** In a fleet of aggregators: the node that holds the engine now (null: none). Absent with one aggregator. */
  node?: string | null;
}

/** Events of the sessions, emitted by the aggregator. */
export interface EngineSessionEvents {
  engineState: [{ engineId: string; link: EngineAvailability; since: number; reason?: string }];
  persisted: [{ engineId: string; seq: number; inserted: number }];
  progress: [{ engineId: string; persistedSeq: number; targetSeq: number }];
  protocolError: [{ engineId: string; code: ErrorCode; message: string }];
}

/** Where a session's events go: anything that can emit them (the aggregator). */
export interface SessionEventSink {
  emit<K extends keyof EngineSessionEvents>(name: K, ...args: EngineSessionEvents[K]): unknown;
}

/** What the runs of an engine need to hear from its session (the aggregator's RunLedger). */
export interface SessionRunHooks {
  /** Called inside the transaction that answers the hello. */
  hello(engineId: string, epoch: string, lastSeq: number, snapshot: RunSnapshot | undefined): Promise<void>;
  /**
   * Called inside the transaction that persists the items. `linkUp`: the link they came on is still the
   * engine's link (a frame is committed in a later turn than it was read: its link may be gone by then).
   */
  recordsPersisted(
    engineId: string,
    epoch: string,
    from: number,
    items: readonly Item[],
    markBefore: number,
    linkUp: boolean,
  ): Promise<void>;
  /** The engine is no longer reachable (its link was lost, or it said goodbye). Committed in a transaction of its own. */
  linkLost(engineId: string): void;
  /** The engine's backlog, up to its hello, is persisted. Committed in a transaction of its own. */
  caughtUp(engineId: string): void;
}
