import type { Logger } from 'pino';
import { ErrorCode, ProtocolError } from '../../protocol/errors.ts';
import type { RecordsFrame } from '../../protocol/messages.ts';
import type { Item } from '../../protocol/records.ts';
import type { Clock, TimerHandle } from '../../time/clock.ts';
import type { AsyncGroupCommit } from '../store/asyncGroupCommit.ts';
import type { AsyncStore } from '../store/asyncStore.ts';
import { type IngestResult, SequenceGapError, type StoredGap } from '../store/recordStore.ts';
import type { EngineTally } from './engineTally.ts';
import type { SessionRunHooks } from './engineView.ts';
import { IngestThrottle } from './ingestThrottle.ts';
import type { LinkConnection } from './linkConnection.ts';

/**
 * Records frames that may wait for the ingest rate on one link. An engine keeps a bounded window of
 * unacknowledged frames (8 by default), so an engine that keeps to the protocol never reaches this.
 */
export const MAX_QUEUED_FRAMES = 32;

export interface FrameIngestOptions {
  engineId: string;
  store: Pick<AsyncStore, 'ingest' | 'highWaterMark' | 'gaps' | 'onRollback'>;
  /** Where records frames are committed (shared by the aggregator's sessions). */
  groupCommit: AsyncGroupCommit;
  /** What the session shows of the store; ingest keeps it current. */
  tally: EngineTally;
  runs: SessionRunHooks | undefined;
  clock: Clock;
  logger: Logger;
  /** Most items in one records frame; a larger frame closes the link (1008) and stores nothing. */
  maxRecordsPerFrame: number | undefined;
  /** Records per second this engine may have ingested (over that, acknowledgements wait). */
  maxIngestRate: number | undefined;
  /** The wait asked of an engine told `busy`. */
  busyRetryAfterMs: number;
  /** Whether the connection is still the engine's link. */
  isCurrent(connection: LinkConnection): boolean;
  /** A frame of the engine's current epoch was committed and acknowledged. */
  committed(outcome: { persistedSeq: number; inserted: number }): void;
}

/** What ingest keeps of one link: frames waiting for the ingest rate, and whether its group failed. */
interface LinkIngest {
  /** Records frames received and waiting for the ingest rate, oldest first (not yet stored). */
  waiting: RecordsFrame[];
  timer: TimerHandle | undefined;
  /**
   * The group-commit attempt in which a frame of this link failed: its later frames in that attempt are
   * not stored (a group held back and committed again is a new attempt).
   */
  poisonedIn: number | undefined;
}

/**
 * What a records frame's unit of work returns: what was stored, the refusal of a frame that did not
 * follow on from the high-water mark (nothing of it was written), or nothing when an earlier frame of
 * its link failed in the same group.
 */
type FrameOutcome =
  | (IngestResult & { epoch: string; gapsNow: StoredGap[] | undefined })
  | { refused: ProtocolError }
  | undefined;

/**
 * Whether storing the items can fail after writing (run events drive the run ledger; gaps and thinned
 * samples write beside the records), so that their frame needs a savepoint of its own in the group.
 * Frames of plain samples and states, the bulk of the traffic, do not.
 */
function needsIsolation(items: readonly Item[]): boolean {
  for (let i = 0; i < items.length; i++) {
    const kind = items[i]![0];
    if (kind !== 's' && kind !== 'st') return true;
  }
  return false;
}

/**
 * An engine's records frames on their way into the store: checked against the limits, held back by the
 * ingest rate, handed to the group commit (stored there with the run states they justify), and answered
 * once committed, in the order of the link's frames: an acknowledgement, or the error that closes the
 * link. The one place frames meet the store: an asynchronous store changes this class and nothing else
 * of the session.
 */
export class FrameIngest {
  private readonly options: FrameIngestOptions;
  private readonly engineId: string;
  private readonly store: FrameIngestOptions['store'];
  private readonly tally: EngineTally;
  /**
   * The tally's high-water mark may be ahead of the store (a transaction that moved it rolled back, or
   * its outcome is unknown): the next frame reads the mark from the store.
   */
  private markUnknown = false;
  /** The engine's ingest rate limit; kept across its connections. */
  private readonly throttle: IngestThrottle | undefined;
  private readonly links = new WeakMap<LinkConnection, LinkIngest>();

  constructor(options: FrameIngestOptions) {
    this.options = options;
    this.engineId = options.engineId;
    this.store = options.store;
    this.tally = options.tally;
    const rate = options.maxIngestRate;
    this.throttle =
      rate === undefined ? undefined : new IngestThrottle(rate, Math.max(1, rate), options.clock);
  }

  /**
   * A records frame, checked against the limits: too many items closes the link (1008) and stores
   * nothing; over the ingest rate the frame waits (and so does its acknowledgement, which slows the
   * engine down through its bounded window); a link that piles up more than MAX_QUEUED_FRAMES waiting
   * frames is told `busy` and closed (1013), and the waiting frames, never acknowledged, come again.
   */
  receive(connection: LinkConnection, frame: RecordsFrame): void {
    const max = this.options.maxRecordsPerFrame;
    if (max !== undefined && frame.items.length > max) {
      connection.fail(
        new ProtocolError(
          ErrorCode.TooManyRecords,
          `records frame of ${frame.items.length} items exceeds the limit of ${max} per frame; ` +
            'nothing of it was stored: send at most that many items per frame',
        ),
      );
      return;
    }
    const throttle = this.throttle;
    const link = this.link(connection);
    if (!throttle || (link.waiting.length === 0 && throttle.waitMs() === 0)) {
      throttle?.take(frame.items.length);
      this.submit(connection, frame);
      return;
    }
    if (link.waiting.length >= MAX_QUEUED_FRAMES) {
      connection.fail(
        new ProtocolError(
          ErrorCode.Busy,
          `over the ingest rate of ${throttle.ratePerSecond} records/s with ${MAX_QUEUED_FRAMES} frames ` +
            'already waiting: wait for acknowledgements before sending more; the waiting frames were not ' +
            'stored, send them again',
        ),
        this.options.busyRetryAfterMs,
      );
      return;
    }
    if (link.waiting.length === 0)
      this.options.logger.debug(
        { rate: throttle.ratePerSecond },
        'over the ingest rate: acknowledgements wait',
      );
    link.waiting.push(frame);
    this.scheduleWaiting(connection, link);
  }

  /**
   * Whether a records frame can go to the group commit behind the link's frames in flight: the link's
   * hello is answered, the frame is within the limits and not held back by the ingest rate. A frame
   * that would be refused, or would wait, waits for the answers of the frames before it instead, so that
   * its answer comes after theirs. A frame that joins and does not follow on from the frames before it
   * is refused by the sequence check when its turn comes, as it would be alone.
   */
  joinsInFlight(connection: LinkConnection, frame: RecordsFrame): boolean {
    if (connection.epoch === undefined || connection.ended) return false;
    const max = this.options.maxRecordsPerFrame;
    if (max !== undefined && frame.items.length > max) return false;
    return this.throttle === undefined;
  }

  /** Frames waiting for the ingest rate were received before a goodbye: they are stored now. */
  flushWaiting(connection: LinkConnection): void {
    this.drainWaiting(connection, true);
  }

  /** The link ended: frames still waiting for the ingest rate were never acknowledged (they come again). */
  linkEnded(connection: LinkConnection): void {
    const link = this.links.get(connection);
    if (!link) return;
    link.timer?.cancel();
    link.timer = undefined;
    link.waiting.length = 0;
  }

  private link(connection: LinkConnection): LinkIngest {
    let link = this.links.get(connection);
    if (!link) {
      link = { waiting: [], timer: undefined, poisonedIn: undefined };
      this.links.set(connection, link);
    }
    return link;
  }

  private scheduleWaiting(connection: LinkConnection, link: LinkIngest): void {
    if (link.timer || connection.ended || !this.throttle) return;
    link.timer = this.options.clock.setTimeout(() => {
      link.timer = undefined;
      this.drainWaiting(connection, false);
    }, this.throttle.waitMs());
  }

  /** Stores waiting frames in order, as the rate allows (or all of them, `ignoreRate`). */
  private drainWaiting(connection: LinkConnection, ignoreRate: boolean): void {
    const throttle = this.throttle;
    if (!throttle) return;
    const link = this.link(connection);
    while (!connection.ended && link.waiting.length > 0 && (ignoreRate || throttle.waitMs() === 0)) {
      const frame = link.waiting.shift()!;
      throttle.take(frame.items.length);
      connection.guarded(() => this.submit(connection, frame));
    }
    if (!connection.ended && link.waiting.length > 0) this.scheduleWaiting(connection, link);
  }

  /** Hands the frame to the group commit; it is answered once the group is committed. */
  private submit(connection: LinkConnection, frame: RecordsFrame): void {
    if (connection.epoch === undefined) {
      connection.tell(
        new ProtocolError(ErrorCode.NotReady, 'records before hello: say hello first, then send records'),
      );
      return;
    }
    const epoch = connection.epoch;
    connection.submitted();
    this.options.groupCommit.add<FrameOutcome>({
      isolated: needsIsolation(frame.items),
      work: () => this.storeFrame(connection, epoch, frame),
      committed: (outcome) => this.frameCommitted(connection, outcome),
      failed: (error) => this.frameFailed(connection, epoch, error),
    });
  }

  /**
   * Stores a frame inside the group's transaction, with the run states it justifies. A frame received
   * before its link broke is still stored (it came whole; the engine, never told, sends it again and
   * the copy counts as a duplicate). The frames after one that failed are not: the link is closed on
   * that failure, and what it never answered comes again.
   */
  private async storeFrame(
    connection: LinkConnection,
    epoch: string,
    frame: RecordsFrame,
  ): Promise<FrameOutcome> {
    const link = this.link(connection);
    const attempt = this.options.groupCommit.attempt;
    if (link.poisonedIn === attempt) return undefined;
    const tally = this.tally;
    const current = epoch === tally.epoch;
    let markBefore: number;
    if (current && !this.markUnknown) markBefore = tally.persistedSeq;
    else {
      markBefore = await this.store.highWaterMark(this.engineId, epoch);
      if (current) {
        tally.persistedSeq = markBefore;
        this.markUnknown = false;
      }
    }
    let result: IngestResult;
    let gapsNow: StoredGap[] | undefined;
    try {
      result = await this.store.ingest(this.engineId, epoch, frame.from, frame.items);
      if (result.gaps > 0) gapsNow = await this.store.gaps(this.engineId);
      const linkUp = this.options.isCurrent(connection) && !connection.ended;
      await this.options.runs?.recordsPersisted(
        this.engineId,
        epoch,
        frame.from,
        frame.items,
        markBefore,
        linkUp,
      );
    } catch (error) {
      link.poisonedIn = attempt;
      // A sequence gap is refused before anything is written: the rest of the group goes on.
      if (error instanceof SequenceGapError)
        return { refused: new ProtocolError(ErrorCode.SequenceGap, error.message) };
      throw error;
    }
    if (current) {
      // The next frame of the group is checked against this one; should the transaction not commit, the
      // mark is read again.
      tally.persistedSeq = result.persistedSeq;
      this.store.onRollback(() => {
        this.markUnknown = true;
      });
    }
    return { ...result, epoch, gapsNow };
  }

  private frameCommitted(connection: LinkConnection, outcome: FrameOutcome): void {
    if (outcome && 'refused' in outcome) {
      this.frameFailed(connection, undefined, outcome.refused);
      return;
    }
    if (outcome) {
      const tally = this.tally;
      connection.acknowledge(outcome.persistedSeq, this.options.clock.now());
      tally.persistedCount += outcome.inserted;
      tally.duplicatesIgnored += outcome.duplicates;
      if (outcome.gapsNow) tally.gaps = outcome.gapsNow;
      // A frame of an epoch the engine has left (its link was replaced by a restarted engine's) moves
      // nothing the session shows.
      if (outcome.epoch === tally.epoch) this.options.committed(outcome);
    }
    connection.answered();
  }

  /** `epoch`: the failure may have taken back what the group stored of it (undefined: nothing written). */
  private frameFailed(connection: LinkConnection, epoch: string | undefined, error: unknown): void {
    // What the store holds is the truth again: a failed group may have taken back earlier frames too.
    if (epoch !== undefined && epoch === this.tally.epoch) this.markUnknown = true;
    if (!connection.ended)
      connection.guarded(() => {
        throw error;
      });
    connection.answered();
  }
}
