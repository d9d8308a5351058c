import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../time/clock.ts';
import type { AuthDecision } from '../../transport/sides.ts';
import type { EngineSessionEvents, EngineView } from '../session/engineView.ts';
import type { EngineLeases } from '../store/engineLeases.ts';
import type { FleetMessage, FleetRegistry } from '../store/fleetRegistry.ts';
import type { EngineSummary } from '../store/recordStore.ts';
import type { StoreAvailability } from '../store/storeAvailability.ts';
import { FleetDirectory, type RemoteOwner } from './fleetDirectory.ts';
import { LeaseKeeper } from './leaseKeeper.ts';

/** The aggregator's events a fleet node relays between nodes (link and run changes). */
export interface FleetEvents {
  on(name: 'engineState', fn: (change: EngineSessionEvents['engineState'][0]) => void): unknown;
  on(name: 'run', fn: (run: { engineId: string; id: string }) => void): unknown;
  emit(name: 'engineState', change: EngineSessionEvents['engineState'][0]): unknown;
  emit(name: 'run', run: never): unknown;
}

export interface FleetMembershipOptions {
  leases: EngineLeases;
  registry: FleetRegistry;
  /** The aggregator: its sessions' link changes and its runs are published; the others' told on it. */
  events: FleetEvents;
  engineSummaries(): Promise<EngineSummary[]>;
  /** The engine as this node's session shows it (its tally goes with its link changes). */
  localView(engineId: string): EngineView | undefined;
  availability: StoreAvailability;
  clock: Clock;
  renewMs: number;
  logger: Logger;
  /** The wait asked of an engine refused while this node cannot admit it (jittered by the caller). */
  retryAfterMs: () => number;
  /** These engines are no longer this node's (lease lost or lapsed): close their links. */
  lost(engineIds: string[], reason: string): void;
  /** Runs store work in the aggregator's pipeline (lease renewals go there). */
  pipeline<T>(work: () => Promise<T>): Promise<T>;
  /** Runs every lease period: the runs of engines no node holds get this node's abandon clock. */
  sweep(): Promise<void>;
}

/**
 * One aggregator's part in a fleet: keeps its leases (LeaseKeeper), lets go of the engines whose lease
 * was lost (found by a renewal, or by an ingest transaction's fence), and refuses new engines while the
 * node cannot hold leases (the store away, or renewals failing), so that they go to another node; once
 * a lease period, it looks for runs that no node follows (`sweep`).
 */
export class FleetMembership {
  readonly keeper: LeaseKeeper;
  readonly directory: FleetDirectory;
  private sweepTimer: TimerHandle | undefined;
  private refreshTimer: TimerHandle | undefined;
  /** Set while another node's change is told on the aggregator: it is not published again. */
  private relaying = false;
  /** Publications go out one after another, in the order of the changes (the last word is the newest). */
  private publishing: Promise<void> = Promise.resolve();

  constructor(private readonly options: FleetMembershipOptions) {
    this.keeper = new LeaseKeeper({
      leases: options.leases,
      clock: options.clock,
      renewMs: options.renewMs,
      logger: options.logger,
      pipeline: options.pipeline,
      lost: options.lost,
    });
    options.leases.onLost((engineIds) =>
      options.lost(engineIds, 'another aggregator node holds the engine now (its lease was lost)'),
    );
    this.directory = new FleetDirectory(options.registry, options.leases.nodeId, options.engineSummaries);
    options.events.on('engineState', (change) => {
      if (this.relaying) return;
      const view = options.localView(change.engineId);
      const tally = view && {
        epoch: view.epoch,
        persistedSeq: view.persistedSeq,
        persistedCount: view.persistedCount,
        duplicatesIgnored: view.duplicatesIgnored,
      };
      const told = { ...change, node: this.nodeId, ...(tally ? { tally } : {}) };
      this.publish(() => options.registry.publishLink(told), 'could not publish a link change to the fleet');
    });
    options.events.on('run', (run) => {
      if (this.relaying) return;
      this.publish(() => options.registry.publishRun(run), 'could not publish a run change to the fleet');
    });
  }

  private publish(send: () => Promise<void>, failure: string): void {
    this.publishing = this.publishing
      .then(send)
      .catch((error) => this.options.logger.warn({ err: error }, failure));
  }

  /** Listens to the other nodes and reads the directory (before the node admits engines). */
  async join(): Promise<void> {
    await this.options.registry.listen((message) => this.heard(message));
    await this.directory.refresh();
  }

  /** Says where this node's API answers, for commands forwarded to it. */
  register(apiUrl: string): Promise<void> {
    return this.options.registry.register(apiUrl);
  }

  /** The engines this node holds now. */
  held(): Set<string> {
    return new Set(this.options.leases.held());
  }

  /** The node holding the engine, when another one does (read from the database now). */
  async ownerElsewhere(engineId: string): Promise<RemoteOwner | undefined> {
    if (this.options.leases.held().includes(engineId)) return undefined;
    await this.directory.refresh();
    return this.directory.ownerElsewhere(engineId);
  }

  /** Every engine of the fleet, each with its node (see FleetDirectory.merge). */
  views(local: readonly EngineView[]): EngineView[] {
    return this.directory.merge(local, this.held());
  }

  private heard(message: FleetMessage): void {
    this.relaying = true;
    try {
      if (message.kind === 'link') {
        const { change } = message;
        if (this.directory.heard(change)) {
          const { node: _node, tally: _tally, ...told } = change;
          this.options.events.emit('engineState', told);
        }
      } else if (message.node !== this.nodeId) this.options.events.emit('run', message.run as never);
    } finally {
      this.relaying = false;
    }
  }

  get nodeId(): string {
    return this.options.leases.nodeId;
  }

  start(): void {
    this.keeper.start();
    const { clock, leases, logger } = this.options;
    const sweep = () => {
      this.sweepTimer = clock.setTimeout(sweep, leases.leaseMs);
      if (this.options.availability.available)
        this.options.sweep().catch((error) => logger.warn({ err: error }, 'could not look for orphan runs'));
    };
    this.sweepTimer = clock.setTimeout(sweep, leases.leaseMs);
    const refresh = () => {
      this.refreshTimer = clock.setTimeout(refresh, this.options.renewMs);
      if (this.options.availability.available)
        this.directory.refresh().catch((error) => logger.debug({ err: error }, 'could not read the fleet'));
    };
    this.refreshTimer = clock.setTimeout(refresh, this.options.renewMs);
  }

  stop(): void {
    this.keeper.stop();
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
    this.refreshTimer?.cancel();
    this.refreshTimer = undefined;
  }

  /** The refusal for a new engine while this node cannot take leases; undefined when it can. */
  refusal(): (AuthDecision & { ok: false }) | undefined {
    const { availability } = this.options;
    if (availability.available && this.keeper.valid) return undefined;
    const why = availability.available ? 'its leases could not be renewed' : 'its store is unavailable';
    return {
      ok: false,
      status: 503,
      message: `aggregator node ${this.nodeId} takes no engine now (${why}): connect to another node`,
      retryAfterMs: this.options.retryAfterMs(),
    };
  }
}
