import type { Transactions } from './store.ts';

/** One piece of store work for the next group, and what to do once its fate is known. */
export interface CommitUnit<T> {
  /**
   * Runs inside the group's transaction. Work that may fail after it has written must be `isolated`;
   * work that is not, and throws, rolls the whole group back (every unit fails), so such work refuses
   * by what it returns, before it writes.
   */
  work(): T;
  /**
   * Runs the work in a savepoint of its own: what it throws undoes its own writes only, and the other
   * units go on. A savepoint costs about as much as the insert of a small frame, so only work that
   * needs one asks for it.
   */
  isolated?: boolean;
  /** After the commit: what `work` wrote is durable. */
  committed(result: T): void;
  /** After the group: `work` threw, or the commit failed. Nothing `work` wrote is stored. */
  failed(error: unknown): void;
}

/** Schedules a flush; returns how to cancel it. */
export type FlushScheduler = (flush: () => void) => () => void;

/** After the current turn of the event loop: everything read from the sockets in this turn joins. */
export const nextTurn: FlushScheduler = (flush) => {
  const immediate = setImmediate(flush);
  return () => clearImmediate(immediate);
};

export interface GroupCommitOptions {
  /** When the pending units are flushed. Default: after the current turn of the event loop. */
  schedule?: FlushScheduler;
  /** Told what a `committed`/`failed` callback threw; the other callbacks still run. Default: rethrown. */
  onCallbackError?: (error: unknown) => void;
  /** Told of each group once it is committed (or rolled back): its units and how long its transaction took. */
  onGroup?: (group: CommittedGroup) => void;
}

/** One group's commit, as `onGroup` is told of it. */
export interface CommittedGroup {
  /** Units (frames) in the group. */
  units: number;
  /** Wall time of the transaction, commit included (ms). */
  durationMs: number;
  /** False when the group's transaction rolled back. */
  ok: boolean;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Group commit: the store work handed over during one turn of the event loop (the frames of every
 * engine read in that turn) is committed in one transaction, and only then are the units told, in the
 * order they were added. With a thousand engines sending small frames this turns ten thousand commits
 * a second into a few hundred, and nothing is answered before its commit.
 */
export class GroupCommit {
  private readonly store: Pick<Transactions, 'transaction'>;
  private readonly schedule: FlushScheduler;
  private readonly onCallbackError: ((error: unknown) => void) | undefined;
  private readonly onGroup: ((group: CommittedGroup) => void) | undefined;
  private pending: CommitUnit<unknown>[] = [];
  private cancelScheduled: (() => void) | undefined;
  private closed = false;
  /** Groups committed and units in them, for diagnostics and benchmarks. */
  groups = 0;
  units = 0;

  constructor(store: Pick<Transactions, 'transaction'>, options: GroupCommitOptions = {}) {
    this.store = store;
    this.schedule = options.schedule ?? nextTurn;
    this.onCallbackError = options.onCallbackError;
    this.onGroup = options.onGroup;
  }

  /** Units waiting for the next flush. */
  get size(): number {
    return this.pending.length;
  }

  /** Adds a unit to the next group; a closed group commit fails it at once. */
  add<T>(unit: CommitUnit<T>): void {
    if (this.closed) {
      unit.failed(new Error('the store is closing: nothing more is committed'));
      return;
    }
    this.pending.push(unit as CommitUnit<unknown>);
    this.cancelScheduled ??= this.schedule(() => {
      this.cancelScheduled = undefined;
      this.flush();
    });
  }

  /** Commits the pending units now and tells them. */
  flush(): void {
    this.cancelScheduled?.();
    this.cancelScheduled = undefined;
    const units = this.pending;
    if (units.length === 0) return;
    this.pending = [];
    const outcomes: Outcome[] = [];
    const started = performance.now();
    let ok = true;
    try {
      this.store.transaction(() => {
        outcomes.length = 0;
        for (const unit of units) {
          if (!unit.isolated) {
            // What this throws rolls the group back.
            outcomes.push({ ok: true, value: unit.work() });
            continue;
          }
          try {
            outcomes.push({ ok: true, value: this.store.transaction(() => unit.work()) });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // Work that was not isolated failed, or the commit itself did: nothing of the group is stored.
      outcomes.length = 0;
      for (let i = 0; i < units.length; i++) outcomes.push({ ok: false, error });
      ok = false;
    }
    this.onGroup?.({ units: units.length, durationMs: performance.now() - started, ok });
    this.groups++;
    this.units += units.length;
    let firstError: { error: unknown } | undefined;
    for (let i = 0; i < units.length; i++) {
      const unit = units[i]!;
      const outcome = outcomes[i]!;
      try {
        if (outcome.ok) unit.committed(outcome.value);
        else unit.failed(outcome.error);
      } catch (error) {
        if (this.onCallbackError) this.onCallbackError(error);
        else firstError ??= { error };
      }
    }
    if (firstError) throw firstError.error;
  }

  /** Commits what is pending; later units fail at once. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
  }
}
