import type { Clock, TimerHandle } from '../../../time/clock.ts';
import type { SyncPolicy } from './durableOutboxOptions.ts';

/** The smallest window reserved for records waiting to be synced under `batch`. */
const MIN_WINDOW_RESERVE = 256;

/**
 * When a durable outbox syncs the records it accepts. Under `always`, each at once. Under `batch`,
 * together: at the latest `syncEveryMs` after the first of them, or as soon as a record takes a sequence
 * number past the reserve. The reserve goes to disk with each sync (a reserve entry): the sequence numbers
 * that may be handed out before the next sync, so that a crash can report exactly the window that was
 * not synced (twice the last window, at least 256, at most `syncEveryRecords`).
 */
export class SyncSchedule {
  /** The highest sequence number a reserve entry promised: the next sync happens by then. */
  reserveSeq = 0;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly policy: SyncPolicy,
    private readonly syncEveryMs: number,
    private readonly syncEveryRecords: number,
    /** Syncs what waits; `release`: nothing came for a whole window (reserve nothing). */
    private readonly sync: (release: boolean) => void,
  ) {}

  /** A record took `seq`: sync now (`always`, or past the reserve), or within the window. */
  accepted(seq: number): void {
    if (this.policy === 'always' || seq >= this.reserveSeq) this.sync(false);
    else this.timer ??= this.clock.setTimeout(this.due, this.syncEveryMs);
  }

  /** Whether a sync now, with `waiting` records waiting, has nothing to write. */
  idle(waiting: number, lastSeq: number, release: boolean): boolean {
    if (waiting > 0) return false;
    if (this.policy === 'always') return true;
    return release ? this.reserveSeq <= lastSeq : this.reserveSeq > lastSeq;
  }

  /**
   * The reserve to write with `waiting` records (none under `always`). With `release` (nothing came for a
   * whole window) it reserves nothing: an idle engine that crashes has nothing to report, and its next
   * record is synced at once.
   */
  reserveFor(waiting: number, lastSeq: number, release: boolean): number | undefined {
    if (this.policy === 'always') return undefined;
    const window = Math.min(this.syncEveryRecords, Math.max(MIN_WINDOW_RESERVE, 2 * waiting));
    return release ? lastSeq : lastSeq + window;
  }

  /** Under `batch`, a window after a sync: sync what came meanwhile, or give the reservation back. */
  afterSync(lastSeq: number): void {
    if (this.reserveSeq > lastSeq) this.timer = this.clock.setTimeout(this.due, this.syncEveryMs);
  }

  cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private readonly due = (): void => {
    this.timer = undefined;
    this.sync(true);
  };
}
