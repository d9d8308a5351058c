import type { GapReason, Item, Json } from '../../protocol/records.ts';

/**
 * The records half of the store: one ordered stream of records per (engine, epoch), each with a
 * high-water mark (the highest sequence number persisted), written in the same transaction as the records
 * it covers. That is what makes ingest exactly-once.
 */
export interface RecordStore {
  /**
   * Persists the items of one `records` frame in one transaction (or in the enclosing one, when called
   * inside `transaction`): those above the stream's high-water mark are stored and the mark moves past
   * them; those at or below it are counted as duplicates. Throws `SequenceGapError` before writing
   * anything when `from` is beyond the mark + 1.
   */
  ingest(engineId: string, epoch: string, from: number, items: readonly Item[]): IngestResult;
  /** The highest sequence number persisted for the engine's epoch (0 when none). */
  highWaterMark(engineId: string, epoch: string): number;
  /** Stored records in sequence order; `epoch` defaults to the engine's current epoch. */
  records(engineId: string, query?: RecordQuery): StoredRecord[];
  /**
   * The newest state record of each key (states: latest value wins) among the records above `afterSeq`
   * of the engine's stream, by key; `epoch` defaults to the engine's current epoch.
   */
  latestStates(engineId: string, query?: { epoch?: string; afterSeq?: number }): StoredRecord[];
  /** Every gap recorded for the engine, oldest stream first, then in sequence order. */
  gaps(engineId: string): StoredGap[];
  /** Records stored for an engine's epoch in a sequence range (inclusive). */
  countRecords(engineId: string, epoch: string, fromSeq: number, toSeq: number): number;
  /** One line per known engine. */
  engineSummaries(): EngineSummary[];
  /** Notes that the engine was seen at `at` (ms since the Unix epoch) speaking `epoch`. */
  touchEngine(engineId: string, epoch: string, at: number): void;
}

/**
 * A frame that does not follow on from the stream's high-water mark: sequence numbers between them are
 * missing. Nothing of the frame was written. (The session answers it with the protocol's `sequence-gap`.)
 */
export class SequenceGapError extends Error {
  override readonly name = 'SequenceGapError';
  constructor(
    readonly engineId: string,
    readonly epoch: string,
    /** The frame's first sequence number. */
    readonly from: number,
    /** The stream's high-water mark. */
    readonly persistedSeq: number,
  ) {
    const missing =
      from - 1 === persistedSeq + 1 ? `${persistedSeq + 1} is` : `${persistedSeq + 1}..${from - 1} are`;
    super(
      `records of engine ${engineId} epoch ${epoch} start at ${from}, but only up to ${persistedSeq} is persisted: ` +
        `${missing} missing; send from ${persistedSeq + 1}`,
    );
  }
}

/** What storing one records frame did. */
export interface IngestResult {
  /** The stream's high-water mark after the commit: what may be acknowledged. */
  persistedSeq: number;
  /** Records (samples, states, events) stored by this call. */
  inserted: number;
  /** Items at or below the high-water mark: already stored, ignored. */
  duplicates: number;
  /** Gap items stored by this call. */
  gaps: number;
}

/** The kinds of stored records (gaps are kept apart, see `StoredGap`). */
export type StoredRecordKind = 'sample' | 'state' | 'event';

/** A record as the store holds it (an engine's sample, state or event, with its sequence number). */
export interface StoredRecord {
  epoch: string;
  seq: number;
  kind: StoredRecordKind;
  /** The sample's tag, the state's key or the event's name. */
  key: string;
  /** Engine time, ms since the Unix epoch. */
  t: number;
  /** The sample or state value, or the event data (`undefined` when the event has none). */
  value: Json | undefined;
  unit?: string;
  /** For a sample thinned while the engine was offline: the window it stands for. */
  window?: SampleWindow;
}

/** A thinned sample's window: `samples` samples taken in [start, end), of which the record is the latest. */
export interface SampleWindow {
  start: number;
  end: number;
  samples: number;
}

/** Which stored records `records()` returns. */
export interface RecordQuery {
  epoch?: string;
  /** Only records with a sequence number above this one. */
  afterSeq?: number;
  limit?: number;
}

/** A gap as the store holds it: a range of sequence numbers that will never come, and why. */
export interface StoredGap {
  epoch: string;
  fromSeq: number;
  toSeq: number;
  /** How many records of the range were dropped (a coalesced range may have held fewer). */
  count: number;
  reason: GapReason;
}

/** One known engine as the store tells it (at start, the aggregator makes a session of each). */
export interface EngineSummary {
  engineId: string;
  /** The epoch the engine last said hello with (null when it never did). */
  epoch: string | null;
  /** The high-water mark of that epoch. */
  persistedSeq: number;
  /** Records stored over all epochs. */
  persistedCount: number;
  /** Items received again and ignored, over all epochs. */
  duplicatesIgnored: number;
  /** When a frame of the engine was last seen, ms since the Unix epoch (null: never). */
  lastSeenAt: number | null;
}
