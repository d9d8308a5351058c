import type { AsyncTransactions } from './asyncStore.ts';
import { type FlushScheduler, nextTurn } from './flushScheduler.ts';
import { ALWAYS_AVAILABLE, type StoreAvailability } from './storeAvailability.ts';

/** One piece of store work for the next group, and what to do once its fate is known. */
export interface AsyncCommitUnit<T> {
  /**
   * Runs inside the group's transaction, after the units before it. Work that may fail after it has
   * written must be `isolated`; work that is not, and throws, rolls the whole group back (every unit
   * fails), so such work refuses by what it returns, before it writes.
   */
  work(): Promise<T>;
  /** Runs the work in a savepoint of its own: what it throws undoes its own writes only. */
  isolated?: boolean;
  /** After the commit: what `work` wrote is durable. */
  committed(result: T): void;
  /** After the group: `work` threw, or the commit failed. Nothing `work` wrote is stored. */
  failed(error: unknown): void;
}

export interface AsyncGroupCommitOptions {
  /**
   * When a group begins. Default: after the current turn of the event loop, or, when the units came while
   * a group committed, as soon as that commit is done. A schedule given here decides when every group
   * begins, the one after a commit too (the simulation's seeded scheduler decides when each group commits).
   */
  schedule?: FlushScheduler;
  /**
   * Told what a `committed`/`failed` callback threw; the other callbacks still run. Default: thrown on
   * the next tick (a crash, as from any event handler).
   */
  onCallbackError?: (error: unknown) => void;
  /**
   * Whether the store can commit. While it cannot, groups wait; a group whose transaction failed because
   * the store went away is not failed but committed again, first, once the store is back (its outcome
   * was unknown: the work is checked against the store as it then stands, so what did commit counts as
   * duplicates). Default: always available.
   */
  availability?: StoreAvailability;
  /**
   * Told of each group once its outcome is known (committed, or rolled back), before its units are told:
   * how many units, and how long its transaction took. A group held back while the store is away is told
   * once, when it finally commits.
   */
  onGroup?: (group: CommittedGroup) => void;
}

/** One group's commit, as `onGroup` (and the aggregator's `commit` event) is told of it. */
export interface CommittedGroup {
  /** Units (frames, hellos, run changes) in the group. */
  units: number;
  /** Wall time of the transaction, commit included (ms). */
  durationMs: number;
  /** False when the group's transaction rolled back. */
  ok: boolean;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Group commit as a pipeline, for a store whose commits take time (PostgreSQL) as well as one whose
 * commits do not (SQLite): the units handed over during one turn of the event loop form a group, committed
 * in one transaction; the units that arrive while a group commits form the next one, begun as soon as
 * that commit is done. Groups commit one after another, and the units of a group are told in the order
 * they were added, after the commit: so each link's frames are answered in order, and none before the
 * commit that holds its records.
 */
export class AsyncGroupCommit {
  private readonly store: Pick<AsyncTransactions, 'transaction'>;
  private readonly schedule: FlushScheduler;
  /** Whether the group after a commit waits for `schedule` too (a schedule of the caller's), or begins at once. */
  private readonly scheduleAfterCommit: boolean;
  private readonly onCallbackError: (error: unknown) => void;
  private readonly availability: StoreAvailability;
  private readonly onGroup: ((group: CommittedGroup) => void) | undefined;
  /** Waiting for the store to be available again. */
  private waiting = false;
  private pending: AsyncCommitUnit<unknown>[] = [];
  private cancelScheduled: (() => void) | undefined;
  /** The group committing now. */
  private inFlight: Promise<void> | undefined;
  private closed = false;
  /** Groups committed and units in them, for diagnostics and benchmarks. */
  groups = 0;
  units = 0;
  /** Groups held back because the store went away while they committed. */
  heldBack = 0;
  /** Transactions begun (a group held back and committed again counts twice): tells one attempt from the next. */
  attempt = 0;

  constructor(store: Pick<AsyncTransactions, 'transaction'>, options: AsyncGroupCommitOptions = {}) {
    this.store = store;
    this.schedule = options.schedule ?? nextTurn;
    this.scheduleAfterCommit = options.schedule !== undefined;
    this.availability = options.availability ?? ALWAYS_AVAILABLE;
    this.onGroup = options.onGroup;
    this.onCallbackError =
      options.onCallbackError ??
      ((error) =>
        process.nextTick(() => {
          throw error;
        }));
  }

  /** Units waiting for the next group. */
  get size(): number {
    return this.pending.length;
  }

  /** Whether a group is committing now. */
  get committing(): boolean {
    return this.inFlight !== undefined;
  }

  /** Adds a unit to the next group; a closed group commit fails it at once. */
  add<T>(unit: AsyncCommitUnit<T>): void {
    if (this.closed) {
      unit.failed(new Error('the store is closing: nothing more is committed'));
      return;
    }
    this.pending.push(unit as AsyncCommitUnit<unknown>);
    // While a group commits, the next one begins when it is done.
    if (this.inFlight) return;
    this.scheduleBegin();
  }

  private scheduleBegin(): void {
    this.cancelScheduled ??= this.schedule(() => {
      this.cancelScheduled = undefined;
      this.begin();
    });
  }

  /**
   * Runs `work` in the next group, in a savepoint of its own (what it throws undoes its own writes only),
   * after everything added before it: resolves with its result once the group has committed, rejects with
   * what it threw or with the commit's failure. For store work that is not a frame (the run ledger's), so
   * that every write of the aggregator goes through one pipeline, in the order it was asked for.
   */
  run<T>(work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.add<T>({ isolated: true, work, committed: resolve, failed: reject }),
    );
  }

  /**
   * Commits everything pending (after the group in flight); resolves once every unit has been told, or
   * the store is unavailable (the units wait for it).
   */
  async flush(): Promise<void> {
    for (;;) {
      this.cancelScheduled?.();
      this.cancelScheduled = undefined;
      this.begin();
      if (!this.inFlight) return;
      while (this.inFlight) await this.inFlight;
    }
  }

  /**
   * Commits what is pending; later units fail at once. With the store unavailable, what is pending fails
   * (nothing of it was acknowledged: the engines send it again to the next aggregator).
   */
  async close(): Promise<void> {
    this.closed = true;
    if (!this.availability.available) {
      const units = this.pending;
      this.pending = [];
      const error = new Error(
        `the store is closing while unavailable (${this.availability.reason}): nothing more is committed`,
      );
      for (const unit of units) this.tell(unit, { ok: false, error });
    }
    await this.flush();
  }

  /** Begins the next group, unless one is in flight (it begins the next one itself when done). */
  private begin(): void {
    if (this.inFlight || this.pending.length === 0) return;
    if (!this.availability.available) {
      if (this.waiting) return;
      this.waiting = true;
      void this.availability.whenAvailable().then(() => {
        this.waiting = false;
        this.begin();
      });
      return;
    }
    const units = this.pending;
    this.pending = [];
    this.inFlight = this.commit(units).finally(() => {
      this.inFlight = undefined;
      if (this.scheduleAfterCommit && this.pending.length > 0) this.scheduleBegin();
      else this.begin();
    });
  }

  private async commit(units: AsyncCommitUnit<unknown>[]): Promise<void> {
    const outcomes: Outcome[] = [];
    this.attempt++;
    const started = performance.now();
    let ok = true;
    try {
      await this.store.transaction(async () => {
        for (const unit of units) {
          if (!unit.isolated) {
            // What this throws rolls the group back.
            outcomes.push({ ok: true, value: await unit.work() });
            continue;
          }
          try {
            outcomes.push({ ok: true, value: await this.store.transaction(() => unit.work()) });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      if (this.availability.isOutage(error) && !this.closed) {
        // The store went away: the group goes first again once it is back.
        this.heldBack++;
        this.pending = units.concat(this.pending);
        return;
      }
      // Work that was not isolated failed, or the commit itself did: nothing of the group is stored.
      outcomes.length = 0;
      for (let i = 0; i < units.length; i++) outcomes.push({ ok: false, error });
      ok = false;
    }
    this.tellGroup({ units: units.length, durationMs: performance.now() - started, ok });
    this.groups++;
    this.units += units.length;
    for (let i = 0; i < units.length; i++) this.tell(units[i]!, outcomes[i]!);
  }

  private tellGroup(group: CommittedGroup): void {
    if (!this.onGroup) return;
    try {
      this.onGroup(group);
    } catch (error) {
      this.onCallbackError(error);
    }
  }

  private tell(unit: AsyncCommitUnit<unknown>, outcome: Outcome): void {
    try {
      if (outcome.ok) unit.committed(outcome.value);
      else unit.failed(outcome.error);
    } catch (error) {
      this.onCallbackError(error);
    }
  }
}
