import { key, type LiveRun, RunLedger, type RunLedgerOptions } from './runLedger.ts';

/**
 * The run ledger of a node of a fleet (several aggregators on one PostgreSQL): a run may start on one
 * node and end, or be interrupted, on another. The node that takes an engine's lease adopts its unsettled
 * runs as stored (`adopt`); the node that loses it forgets them (`forget`: the new owner settles them);
 * the runs of engines no node holds (their node died) get the abandon clock of every node that finds them
 * (`adoptOrphans`), counted from their stored `since`; and before an abandon clock interrupts a run, the
 * stored run is read again: if another node changed it since, that is the truth.
 */
export class FleetRunLedger extends RunLedger {
  constructor(
    options: RunLedgerOptions,
    /** The engines some node of the fleet holds now (their runs are that node's). */
    private readonly owned: () => Promise<ReadonlySet<string>>,
  ) {
    super(options);
  }

  /** On start: the unsettled runs of engines no node holds (the others are their owners'). In a transaction. */
  override async load(): Promise<void> {
    await this.takeOrphans(await this.owned());
  }

  /** Adopts the orphan runs (see `takeOrphans`) in a transaction of the pipeline. */
  async adoptOrphans(): Promise<void> {
    const owned = await this.owned();
    await this.pipeline.run(() => this.takeOrphans(owned));
  }

  /**
   * This node just took the engine's lease (in the hello's transaction): its unsettled runs are read again
   * from the store, where the node that held it before left them (one that died left them active:
   * unconfirmed now, until the hello that follows confirms them).
   */
  async adopt(engineId: string): Promise<void> {
    this.forget(engineId);
    for (const run of await this.store.runs({ engineId, states: ['active', 'unconfirmed'] })) {
      this.remember(key(engineId, run.id));
      const live = this.restore(run);
      if (run.state === 'active') this.send(live, { type: 'LINK_LOST' });
    }
    await this.settle();
  }

  /** The engine is another node's now: its runs are that node's to settle (nothing is written). */
  forget(engineId: string): void {
    for (const live of this.liveOf(engineId)) this.drop(live);
  }

  /**
   * The unsettled runs of engines no node holds (`owned`: the engines some node holds) that this node does
   * not follow yet get its abandon clock; one that was active is unconfirmed from now. In a transaction.
   */
  private async takeOrphans(owned: ReadonlySet<string>): Promise<void> {
    for (const run of await this.store.runs({ states: ['active', 'unconfirmed'] })) {
      if (owned.has(run.engineId) || this.live.has(key(run.engineId, run.id))) continue;
      this.remember(key(run.engineId, run.id));
      const live = this.restore(run);
      if (run.state === 'active') this.send(live, { type: 'LINK_LOST' });
    }
    await this.settle();
  }

  /** Interrupts the run unless another node changed it since (then the stored run is followed instead). */
  protected override abandonDue(live: LiveRun): void {
    const { engineId, id } = live.run;
    this.pipeline
      .run(async () => {
        const stored = await this.store.run(id, engineId);
        if (this.live.get(key(engineId, id)) !== live) return;
        if (stored && (stored.state !== live.run.state || stored.since !== live.run.since)) {
          this.drop(live);
          if (stored.state === 'unconfirmed') this.restore(stored);
          return;
        }
        this.send(live, { type: 'ABANDON_DUE' });
        await this.settle();
      })
      .catch((error) => this.logger.error({ err: error, engineId }, 'could not interrupt an abandoned run'));
  }

  private drop(live: LiveRun): void {
    live.runtime.stop();
    this.live.delete(key(live.run.engineId, live.run.id));
  }
}
