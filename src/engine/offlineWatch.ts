import { type Actor, createActor, type InspectionEvent } from 'xstate';
import { offlineWatchMachine } from '../../machines/offlineWatch.ts';
import type { Clock, TimerHandle } from '../time/clock.ts';
import type { OfflineInfo } from './resilientDispatcherOptions.ts';

export interface OfflineWatchOptions {
  /** How long the link may be down before `onTooLong`. */
  limitMs: number;
  clock: Clock;
  onTooLong(info: OfflineInfo): void;
  onOnlineAgain(info: OfflineInfo): void;
  inspect?: (event: InspectionEvent) => void;
}

/**
 * Runs the `offlineWatch` machine for a dispatcher: keeps its one timer (the limit, from the moment the
 * link went down) and tells the dispatcher when the link has been down too long, and when it is back.
 */
export class OfflineWatch {
  private readonly actor: Actor<typeof offlineWatchMachine>;
  private timer: TimerHandle | undefined;
  private downSince: number;

  constructor(options: OfflineWatchOptions) {
    const { clock, limitMs } = options;
    this.downSince = clock.now();
    const info = (): OfflineInfo => ({ offlineMs: clock.now() - this.downSince });
    const machine = offlineWatchMachine.provide({
      actions: {
        armLimit: () => {
          this.downSince = clock.now();
          this.timer = clock.setTimeout(() => this.actor.send({ type: 'LIMIT_DUE' }), limitMs);
        },
        cancelLimit: () => {
          this.timer?.cancel();
          this.timer = undefined;
        },
        reportOfflineTooLong: () => options.onTooLong(info()),
        reportOnlineAgain: () => options.onOnlineAgain(info()),
      },
    });
    this.actor = createActor(machine, { inspect: options.inspect });
    this.actor.start();
  }

  /** The machine's state: `offline`, `offlineTooLong` or `online`. */
  get state(): string {
    return String(this.actor.getSnapshot().value);
  }

  linkUp(): void {
    this.actor.send({ type: 'LINK_UP' });
  }

  linkDown(): void {
    this.actor.send({ type: 'LINK_DOWN' });
  }

  /** Cancels the timer; nothing more is reported. */
  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.actor.stop();
  }
}
