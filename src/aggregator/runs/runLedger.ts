import { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import {
  REASON_ENGINE_LOST,
  type RunReconciliationEvent,
  type RunState,
  runReconciliationMachine,
} from '../../../machines/runReconciliation.ts';
import type { RunSnapshot } from '../../protocol/messages.ts';
import type { Item } from '../../protocol/records.ts';
import { MachineRuntime } from '../../runtime/machineRuntime.ts';
import type { Clock } from '../../time/clock.ts';
import type { AsyncStore } from '../store/asyncStore.ts';
import type { RunQuery, StoredRun } from '../store/runStore.ts';
import { endEvent, newRun, RUN_EVENTS, type RunRecord, runRecordsIn } from './runRecords.ts';

/** A run as the API shows it. */
export interface RunView extends StoredRun {
  outcome: 'completed' | 'failed' | 'interrupted' | null;
  /** Records the engine wrote during the run (from its start record to its end, or to now). */
  records: number;
}

export interface RunLedgerEvents {
  run: [run: RunView];
}

/** Where the ledger's own transactions run: the aggregator's group commit, after what was asked before. */
export interface StorePipeline {
  run<T>(work: () => Promise<T>): Promise<T>;
}

export interface RunLedgerOptions {
  store: Pick<
    AsyncStore,
    'runs' | 'run' | 'saveRun' | 'highWaterMark' | 'countRecords' | 'afterCommit' | 'onRollback'
  >;
  /** Where the ledger's transactions (link lost, caught up, abandoned) are committed. */
  pipeline: StorePipeline;
  clock: Clock;
  /** How long a run may stay unconfirmed before it is declared interrupted ("engine lost"). */
  abandonAfterMs: number;
  logger: Logger;
  /** Receives the inspection events of every run's machine (Stately inspector). */
  inspect?: (event: InspectionEvent) => void;
}

/** A run that is not settled, with its machine. */
export interface LiveRun {
  run: StoredRun;
  runtime: MachineRuntime<typeof runReconciliationMachine, 'abandon'>;
  /** Sequence number of the end record being applied, for `persistRun`. */
  endSeq: number | null;
}

/** What the hello snapshot told, kept until the engine has caught up. */
interface EngineHello {
  epoch: string;
  lastSeq: number;
  snapshot: RunSnapshot | undefined;
}

/**
 * Runs one `runReconciliation` actor per run that is not settled (active, unconfirmed; interrupted ones
 * are brought back from the store when news of them arrives) and persists every state they enter.
 * Run records are applied inside the transaction that stores them, so a run's state never runs ahead of
 * or behind the records that justify it, whatever moment the aggregator is killed at. Memory follows
 * the store: a transaction that rolls back (or fails to commit) puts back every run it changed, and
 * `run` events go out only once their transaction has committed.
 */
export class RunLedger extends EventEmitter<RunLedgerEvents> {
  protected readonly store: RunLedgerOptions['store'];
  protected readonly pipeline: StorePipeline;
  private readonly clock: Clock;
  private readonly abandonAfterMs: number;
  protected readonly logger: Logger;
  private readonly inspect: RunLedgerOptions['inspect'];
  protected readonly live = new Map<string, LiveRun>();
  private readonly hellos = new Map<string, EngineHello>();
  /** Run states saved by the machines' actions and not yet awaited (see `settle`). */
  private writes: Promise<void>[] = [];
  /** `run` events go out one after another, in the order of their commits. */
  private announcing: Promise<void> = Promise.resolve();

  constructor(options: RunLedgerOptions) {
    super();
    this.store = options.store;
    this.pipeline = options.pipeline;
    this.clock = options.clock;
    this.abandonAfterMs = options.abandonAfterMs;
    this.logger = options.logger;
    this.inspect = options.inspect;
  }

  /** On start: every unsettled run comes back; runs that were active are unconfirmed until their engine returns. In a transaction. */
  async load(): Promise<void> {
    for (const run of await this.store.runs({ states: ['active', 'unconfirmed'] })) {
      const live = this.restore(run);
      if (run.state === 'active') this.send(live, { type: 'LINK_LOST' });
    }
    await this.settle();
  }

  /**
   * Applies the run records among freshly persisted items (those above `markBefore`). In the ingest
   * transaction. `linkUp`: the link the items came on is still the engine's link (a run they start is
   * active; otherwise it starts unconfirmed, its outcome unknown until the engine is back).
   */
  async recordsPersisted(
    engineId: string,
    epoch: string,
    from: number,
    items: readonly Item[],
    markBefore: number,
    linkUp: boolean,
  ): Promise<void> {
    for (const record of runRecordsIn(from, items, markBefore))
      await this.applyRecord({ engineId, epoch, linkUp }, record);
    await this.settle();
  }

  /** The engine is no longer reachable: what it runs is unconfirmed. */
  linkLost(engineId: string): void {
    this.inPipeline('could not record that the runs of the engine are unconfirmed', engineId, () => {
      for (const live of this.liveOf(engineId)) this.send(live, { type: 'LINK_LOST' });
    });
  }

  /**
   * The engine said hello: a new epoch settles its old runs; its snapshot confirms the run it is running.
   * In the transaction that answers the hello.
   */
  async hello(
    engineId: string,
    epoch: string,
    lastSeq: number,
    snapshot: RunSnapshot | undefined,
  ): Promise<void> {
    this.hellos.set(engineId, { epoch, lastSeq, snapshot });
    const current = snapshot?.current?.runId;
    for (const live of this.liveOf(engineId)) {
      if (live.run.epoch !== epoch) this.send(live, { type: 'ENGINE_RESTARTED' });
      else if (live.run.id === current) this.send(live, { type: 'ENGINE_RUNNING' });
    }
    if (current !== undefined) {
      // A run declared interrupted (engine lost) that the engine is running after all is reopened.
      const stored = await this.store.run(current, engineId);
      if (
        stored?.state === 'interrupted' &&
        stored.reason === REASON_ENGINE_LOST &&
        stored.epoch === epoch &&
        !this.live.has(key(engineId, current))
      ) {
        this.remember(key(engineId, current));
        this.send(this.restore(stored), { type: 'ENGINE_RUNNING' });
      }
    }
    await this.settle();
  }

  /**
   * The engine's backlog (up to its hello) is persisted. A run that had started by then, has no end
   * record, and is not the one the engine said it runs, will never end: it was interrupted.
   */
  caughtUp(engineId: string): void {
    const hello = this.hellos.get(engineId);
    if (!hello) return;
    const current = hello.snapshot?.current?.runId;
    this.inPipeline('could not settle the runs of an engine that caught up', engineId, () => {
      for (const live of this.liveOf(engineId)) {
        if (live.run.epoch !== hello.epoch || live.run.startSeq > hello.lastSeq) continue;
        const running = hello.snapshot === undefined || live.run.id === current;
        this.send(live, { type: running ? 'ENGINE_RUNNING' : 'ENGINE_NOT_RUNNING' });
      }
    });
  }

  /**
   * The engine's run that is not settled (the newest), if any, as stored (its count of records is the
   * run's view: `get`).
   */
  currentRun(engineId: string): StoredRun | undefined {
    let newest: StoredRun | undefined;
    for (const live of this.liveOf(engineId))
      if (!newest || live.run.startedAt >= newest.startedAt) newest = live.run;
    return newest && { ...newest };
  }

  async list(query: RunQuery = {}): Promise<RunView[]> {
    return Promise.all((await this.store.runs(query)).map((run) => this.view(run)));
  }

  async get(runId: string): Promise<RunView | undefined> {
    const run = await this.store.run(runId);
    return run && this.view(run);
  }

  async view(run: StoredRun): Promise<RunView> {
    const end = run.endSeq ?? (await this.store.highWaterMark(run.engineId, run.epoch));
    const outcome =
      run.state === 'completed' || run.state === 'failed' || run.state === 'interrupted' ? run.state : null;
    const records = await this.store.countRecords(run.engineId, run.epoch, run.startSeq, end);
    return { ...run, outcome, records };
  }

  /** Waits for every run state the machines have saved so far (a failed save fails the transaction). */
  protected async settle(): Promise<void> {
    while (this.writes.length > 0) await Promise.all(this.writes.splice(0));
  }

  /** Runs `change` (machine events) in a transaction of the pipeline; a failure is logged. */
  private inPipeline(failure: string, engineId: string, change: () => void): void {
    this.pipeline
      .run(async () => {
        change();
        await this.settle();
      })
      .catch((error) => this.logger.error({ err: error, engineId }, failure));
  }

  /** Stops every timer and actor (the aggregator is closing). */
  stop(): void {
    for (const live of this.live.values()) live.runtime.stop();
    this.live.clear();
  }

  private async applyRecord(
    link: { engineId: string; epoch: string; linkUp: boolean },
    record: RunRecord,
  ): Promise<void> {
    const { engineId, epoch } = link;
    const { runId, seq, name, data } = record;
    if (!runId) {
      this.logger.warn({ engineId, seq, name }, 'run record without a runId ignored');
      return;
    }
    const existing = this.live.get(key(engineId, runId));
    switch (name) {
      case RUN_EVENTS.started: {
        if (existing || (await this.store.run(runId, engineId))) {
          this.logger.warn({ engineId, runId, seq }, 'run started twice: the second start is ignored');
          return;
        }
        const live = this.start(newRun(engineId, epoch, record, this.clock.now()));
        // The run is as the engine's link is now, not as it was when the record was sent.
        this.send(live, { type: link.linkUp ? 'ENGINE_RUNNING' : 'LINK_LOST' });
        // The engine already came back with a new epoch: once the records that came with this one are
        // committed (an end may be among them), the run is over.
        if (!link.linkUp && this.hellos.get(engineId)?.epoch !== epoch)
          this.store.afterCommit(() => this.settleEpochsBefore(engineId));
        return;
      }
      case RUN_EVENTS.completed:
      case RUN_EVENTS.failed: {
        const live = existing ?? (await this.reopen(engineId, epoch, record));
        if (live) this.send(live, endEvent(record), seq);
        return;
      }
      case RUN_EVENTS.phase: {
        if (!existing || typeof data.phase !== 'string') return;
        this.remember(key(engineId, runId));
        existing.run.phase = data.phase;
        this.save(existing.run);
        this.announce(existing.run);
        return;
      }
      default:
        this.logger.debug({ engineId, name }, 'unknown run record ignored');
    }
  }

  /** Interrupts the live runs of the engine's epochs before its current one (it restarted). */
  private settleEpochsBefore(engineId: string): void {
    this.inPipeline('could not interrupt the runs of a restarted engine', engineId, () => {
      const epoch = this.hellos.get(engineId)?.epoch;
      for (const live of this.liveOf(engineId))
        if (live.run.epoch !== epoch) this.send(live, { type: 'ENGINE_RESTARTED' });
    });
  }

  /** A run whose end arrives while it is not live: interrupted earlier (reopened), or never seen start. */
  private async reopen(engineId: string, epoch: string, record: RunRecord): Promise<LiveRun | undefined> {
    const runId = record.runId!;
    const stored = await this.store.run(runId, engineId);
    if (stored?.state === 'interrupted' && stored.reason === REASON_ENGINE_LOST) {
      this.remember(key(engineId, runId));
      return this.restore(stored);
    }
    if (stored) {
      this.logger.warn({ engineId, runId, state: stored.state }, 'end record for a settled run ignored');
      return undefined;
    }
    // Its start record never reached us (an older epoch lost with an engine restart): start it from the end.
    return this.start(newRun(engineId, epoch, record, this.clock.now()));
  }

  /** A new run, in `starting`: the caller tells it at once how the engine's link stands, or how it ended. */
  private start(run: StoredRun): LiveRun {
    this.remember(key(run.engineId, run.id));
    const live = this.create(run, undefined);
    live.runtime.start();
    return live;
  }

  /** Sends an event to a run's actor, after noting how the run stood (see `remember`). */
  protected send(live: LiveRun, event: RunReconciliationEvent, endSeq?: number): void {
    this.remember(key(live.run.engineId, live.run.id));
    if (endSeq !== undefined) live.endSeq = endSeq;
    // A failed action (the run could not be saved) throws here and fails the transaction: the records that
    // would have justified the state are not stored either, and are sent again.
    live.runtime.dispatch(event);
  }

  /**
   * Notes how the run stands now (live or not, its record), to be put back should the transaction that
   * is about to change it roll back or fail to commit.
   */
  protected remember(runKey: string): void {
    const live = this.live.get(runKey);
    const saved = live && { run: { ...live.run }, endSeq: live.endSeq };
    this.store.onRollback(() => {
      const current = this.live.get(runKey);
      if (current) {
        current.runtime.stop();
        this.live.delete(runKey);
      }
      if (saved) this.restore(saved.run).endSeq = saved.endSeq;
    });
  }

  /** Tells listeners (and the log) of a run's new state once it is committed. */
  private announce(run: StoredRun): void {
    const snapshot = { ...run };
    this.store.afterCommit(() => {
      this.logger.info(
        { engineId: snapshot.engineId, runId: snapshot.id, state: snapshot.state, reason: snapshot.reason },
        `run ${snapshot.id} ${snapshot.state}`,
      );
      this.announcing = this.announcing.then(async () => {
        try {
          this.emit('run', await this.view(snapshot));
        } catch (error) {
          this.logger.error({ err: error, runId: snapshot.id }, 'a run listener failed');
        }
      });
    });
  }

  protected restore(run: StoredRun): LiveRun {
    const snapshot = runReconciliationMachine.resolveState({
      value: run.state,
      context: { reason: run.reason, endedAt: run.endedAt },
    });
    const live = this.create(run, snapshot);
    live.runtime.start();
    if (run.state === 'unconfirmed') this.scheduleAbandon(live);
    return live;
  }

  private create(
    run: StoredRun,
    snapshot: ReturnType<typeof runReconciliationMachine.resolveState> | undefined,
  ) {
    const live: LiveRun = { run: { ...run }, runtime: undefined as never, endSeq: null };
    live.runtime = new MachineRuntime(runReconciliationMachine, {
      clock: this.clock,
      inspect: this.inspect,
      snapshot,
      actions: (runtime) => ({
        persistRun: ({ context }, { state }) => this.persist(live, state, context.reason, context.endedAt),
        scheduleAbandon: () => this.scheduleAbandon(live),
        cancelAbandon: () => runtime.cancelTimer('abandon'),
      }),
    });
    this.live.set(key(run.engineId, run.id), live);
    return live;
  }

  private persist(live: LiveRun, state: RunState, reason: string | null, endedAt: number | null): void {
    const run = live.run;
    run.state = state;
    run.reason = reason;
    run.endedAt = endedAt;
    if (live.endSeq !== null) run.endSeq = live.endSeq;
    run.since = this.clock.now();
    this.save(run);
    if (state === 'completed' || state === 'failed') {
      live.runtime.cancelTimer('abandon');
      this.live.delete(key(run.engineId, run.id));
    }
    if (state === 'interrupted') this.live.delete(key(run.engineId, run.id));
    this.announce(run);
  }

  /** ABANDON_DUE once the run has been unconfirmed for the abandon period (counted from its `since`). */
  private scheduleAbandon(live: LiveRun): void {
    const remaining = Math.max(0, live.run.since + this.abandonAfterMs - this.clock.now());
    live.runtime.startTimer('abandon', remaining, () => this.abandonDue(live));
  }

  /** The run's abandon period is over: it is interrupted ("engine lost"). */
  protected abandonDue(live: LiveRun): void {
    this.inPipeline('could not interrupt an abandoned run', live.run.engineId, () =>
      this.send(live, { type: 'ABANDON_DUE' }),
    );
  }

  /** Saves a run's state in the open transaction (awaited by `settle` before the transaction ends). */
  private save(run: StoredRun): void {
    const write = this.store.saveRun({ ...run });
    // Seen here so that it is never an unhandled rejection; `settle` reports it.
    write.catch(() => {});
    this.writes.push(write);
  }

  protected *liveOf(engineId: string): Iterable<LiveRun> {
    for (const live of [...this.live.values()]) if (live.run.engineId === engineId) yield live;
  }
}

export function key(engineId: string, runId: string): string {
  return `${engineId}\n${runId}`;
}
