import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../time/clock.ts';
import type { EngineLeases } from '../store/engineLeases.ts';

export interface LeaseKeeperOptions {
  leases: EngineLeases;
  clock: Clock;
  /** How often every lease held is renewed (less than the lease). */
  renewMs: number;
  logger: Logger;
  /**
   * Where a renewal runs: the aggregator's pipeline (after the groups before it, never beside them: an
   * ingest transaction share-locks the leases it writes under, and a renewal beside it could deadlock).
   */
  pipeline<T>(work: () => Promise<T>): Promise<T>;
  /** These engines are no longer this node's: their links must close. */
  lost(engineIds: string[], reason: string): void;
}

/**
 * Keeps one node's leases: renews them all every `renewMs` (a timer on the injected clock, one statement
 * per renewal, in the node's pipeline), and tells which were lost. The leases count as held until
 * `leaseMs` after the last renewal that succeeded was sent (a conservative bound: the database set the
 * new expiry later than that); once that has passed without another (the node is cut off from the
 * database, or was paused), every lease may have expired and been taken over: every engine is let go, and
 * the node admits none until a renewal succeeds again. Nothing it stored meanwhile can be kept anyway:
 * every ingest transaction checks the lease (fencing); letting go moves the engines to other nodes.
 */
export class LeaseKeeper {
  private timer: TimerHandle | undefined;
  private renewing = false;
  /** Until when the leases held are known to run (local clock); a renewal that succeeds moves it. */
  private validUntil: number;
  private lapsed = false;

  constructor(private readonly options: LeaseKeeperOptions) {
    this.validUntil = options.clock.now() + options.leases.leaseMs;
  }

  /** Whether the node may admit an engine: its last renewal is recent enough. */
  get valid(): boolean {
    return !this.lapsed && this.options.clock.now() < this.validUntil;
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.timer = this.options.clock.setTimeout(tick, this.options.renewMs);
      this.check();
      this.renew();
    };
    this.timer = this.options.clock.setTimeout(tick, this.options.renewMs);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Lets every engine go once the leases may have run out without a renewal. */
  private check(): void {
    if (this.lapsed || this.options.clock.now() < this.validUntil) return;
    this.lapsed = true;
    const held = this.options.leases.held();
    this.options.leases.forget(held);
    this.options.logger.error(
      { engines: held.length },
      'the leases could not be renewed in time (cut off from the database?): every engine is let go, and none admitted until a renewal succeeds',
    );
    if (held.length > 0)
      this.options.lost(held, 'the lease may have expired: its renewal did not succeed in time');
  }

  private renew(): void {
    if (this.renewing) return;
    this.renewing = true;
    const sentAt = this.options.clock.now();
    this.options
      .pipeline(() => this.options.leases.renew())
      .then(({ lost }) => {
        this.validUntil = Math.max(this.validUntil, sentAt + this.options.leases.leaseMs);
        if (this.lapsed && this.options.clock.now() < this.validUntil) {
          this.lapsed = false;
          this.options.logger.info('leases renewed again: engines are admitted');
        }
        if (lost.length > 0) {
          this.options.logger.warn({ engines: lost }, 'leases lost: another node took these engines over');
          this.options.lost(lost, 'another aggregator node took the engine over');
        }
      })
      .catch((error) => this.options.logger.warn({ err: error }, 'could not renew the leases'))
      .finally(() => {
        this.renewing = false;
      });
  }
}
