import type { InspectionEvent } from 'xstate';
import { offlineWatchMachine } from '../../machines/offlineWatch.ts';
import { MachineRuntime } from '../runtime/machineRuntime.ts';
import type { Clock } from '../time/clock.ts';
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
  private readonly runtime: MachineRuntime<typeof offlineWatchMachine, 'limit'>;
  private downSince: number;

  constructor(options: OfflineWatchOptions) {
    const { clock, limitMs } = options;
    this.downSince = clock.now();
    const info = (): OfflineInfo => ({ offlineMs: clock.now() - this.downSince });
    this.runtime = new MachineRuntime(offlineWatchMachine, {
      clock,
      inspect: options.inspect,
      actions: (runtime) => ({
        armLimit: () => {
          this.downSince = clock.now();
          runtime.startTimer('limit', limitMs, { type: 'LIMIT_DUE' });
        },
        cancelLimit: () => runtime.cancelTimer('limit'),
        reportOfflineTooLong: () => options.onTooLong(info()),
        reportOnlineAgain: () => options.onOnlineAgain(info()),
      }),
    });
    this.runtime.start();
  }

  /** The machine's state: `offline`, `offlineTooLong` or `online`. */
  get state(): string {
    return this.runtime.state;
  }

  linkUp(): void {
    this.runtime.dispatch({ type: 'LINK_UP' });
  }

  linkDown(): void {
    this.runtime.dispatch({ type: 'LINK_DOWN' });
  }

  /** Cancels the timer; nothing more is reported. */
  stop(): void {
    this.runtime.stop();
  }
}
