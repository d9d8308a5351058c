import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../time/clock.ts';
import type { AuthDecision } from '../../transport/sides.ts';
import type { EngineLeases } from '../store/engineLeases.ts';
import type { StoreAvailability } from '../store/storeAvailability.ts';
import { LeaseKeeper } from './leaseKeeper.ts';

export interface FleetMembershipOptions {
  leases: EngineLeases;
  availability: StoreAvailability;
  clock: Clock;
  renewMs: number;
  logger: Logger;
  /** The wait asked of an engine refused while this node cannot admit it (jittered by the caller). */
  retryAfterMs: () => number;
  /** These engines are no longer this node's (lease lost or lapsed): close their links. */
  lost(engineIds: string[], reason: string): void;
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
  private sweepTimer: TimerHandle | undefined;

  constructor(private readonly options: FleetMembershipOptions) {
    this.keeper = new LeaseKeeper({
      leases: options.leases,
      clock: options.clock,
      renewMs: options.renewMs,
      logger: options.logger,
      lost: options.lost,
    });
    options.leases.onLost((engineIds) =>
      options.lost(engineIds, 'another aggregator node holds the engine now (its lease was lost)'),
    );
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
  }

  stop(): void {
    this.keeper.stop();
    this.sweepTimer?.cancel();
    this.sweepTimer = undefined;
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
