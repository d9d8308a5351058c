import type { AggregatorNode } from './aggregatorNode.ts';
import type { EngineAccount } from './engineAccount.ts';
import type { EngineNode } from './engineNode.ts';
import { auditStream } from './storeAudit.ts';
import { INVARIANTS, type Violations } from './violations.ts';

/** Records acknowledged before the store is audited record by record. */
const AUDIT_BATCH = 200;

/**
 * The invariants, checked as the promises say (README), against the store and the engines' own
 * accounts: on every acknowledgement an engine takes, after every step, and at the end.
 */
export class Checks {
  /** How the aggregator shows each engine (its `engineState` events: what the dashboard shows). */
  private readonly shown = new Map<string, string>();
  /** A run or an engine's availability changed since the last check of the runs. */
  private dirty = true;

  constructor(
    private readonly aggregatorNode: AggregatorNode,
    private readonly engines: readonly EngineNode[],
    private readonly violations: Violations,
  ) {}

  /** Follows a (re)started aggregator's announcements. */
  watch(): void {
    const aggregator = this.aggregatorNode.aggregator;
    if (!aggregator) return;
    this.shown.clear();
    for (const engine of aggregator.engines()) this.shown.set(engine.id, engine.link);
    aggregator.on('engineState', ({ engineId, link }) => {
      this.shown.set(engineId, link);
      this.dirty = true;
    });
    aggregator.on('run', () => {
      this.dirty = true;
    });
    this.dirty = true;
  }

  /**
   * An engine takes an acknowledgement (or a welcome's high-water mark) up to `seq`: it must be stored,
   * and every sequence number up to it stored once, as numbered, or a gap the engine reported.
   */
  acknowledged(account: EngineAccount, epoch: string, seq: number): void {
    const store = this.aggregatorNode.store;
    const mark = store.highWaterMark(account.engineId, epoch);
    if (mark < seq)
      this.violations.report(
        INVARIANTS.ackedNotStored,
        `${account.engineId} epoch ${epoch}: acknowledged up to ${seq}, the store holds up to ${mark}`,
      );
    // The record-by-record audit runs in batches (a query per acknowledgement would cost more than the
    // system under test); the final check audits what is left.
    if (Math.min(seq, mark) - account.epoch(epoch).verified >= AUDIT_BATCH)
      auditStream(store, account, epoch, Math.min(seq, mark), this.violations);
  }

  /**
   * After every step. A lost link is shown at once, and the run ledger's answer to it (its runs
   * unconfirmed) is a unit of the group commit (ARCHITECTURE.md: every write goes through the pipeline),
   * as are hellos and run records that may make a run active: the runs are checked once the group
   * commit has stored everything asked of it (nothing pending, nothing committing).
   */
  afterStep(): void {
    for (const engine of this.engines) engine.running?.hardware.notePending();
    const aggregator = this.aggregatorNode.aggregator;
    if (!aggregator || !this.dirty) return;
    // Asked of the store but not yet stored: checked after a later step.
    if (aggregator.groupCommit.committing || aggregator.groupCommit.size > 0) return;
    this.dirty = false;
    for (const run of this.aggregatorNode.store.runs({ states: ['active'] })) {
      const link = this.shown.get(run.engineId);
      if (link === 'unavailable' || link === 'offline')
        this.violations.report(
          INVARIANTS.runActiveWhileUnavailable,
          `run ${run.id} of ${run.engineId} is active while the aggregator shows the engine ${link}`,
        );
    }
  }

  /**
   * After the quiet phase (faults healed, workloads stopped, longer than the abandon time): every live
   * engine available with everything acknowledged; every run's state as the engine's own account says.
   */
  final(): void {
    const aggregator = this.aggregatorNode.aggregator;
    if (!aggregator) throw new Error('the aggregator must be up for the final checks');
    const store = this.aggregatorNode.store;
    for (const engine of this.engines) {
      const process = engine.running;
      const unsettled = store
        .runs({ engineId: engine.id, states: ['active', 'unconfirmed'] })
        .map((run) => `${run.id}:${run.state}`);
      if (!process) {
        if (unsettled.length > 0)
          this.violations.report(
            INVARIANTS.runAgreesAfterCatchUp,
            `${engine.id} is gone (no process), yet its runs ${unsettled.join(', ')} are not settled`,
          );
        continue;
      }
      const { outbox } = process;
      const view = aggregator.engine(engine.id);
      if (view?.link !== 'available' || outbox.ackedSeq < outbox.lastSeq)
        this.violations.report(
          INVARIANTS.caughtUp,
          `${engine.id}: aggregator shows ${view?.link}; acknowledged ${outbox.ackedSeq} of ${outbox.lastSeq}`,
        );
      for (const epoch of engine.account.order)
        auditStream(store, engine.account, epoch, store.highWaterMark(engine.id, epoch), this.violations);
      const current = process.engine.runs.currentRun?.runId;
      const expected = current === undefined ? [] : [`${current}:active`];
      if (unsettled.join(',') !== expected.join(','))
        this.violations.report(
          INVARIANTS.runAgreesAfterCatchUp,
          `${engine.id} runs ${current ?? 'nothing'}; the aggregator has ${unsettled.join(', ') || 'no run'} unsettled`,
        );
    }
  }
}
