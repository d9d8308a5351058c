import type { Clock, TimerHandle } from './clock.ts';

export interface SilenceWatchdogOptions {
  clock: Clock;
  /** Silence (nothing heard at all) this long ends the link. */
  timeoutMs: number;
  /** The peer has been silent for `silentMs` (at least `timeoutMs`). Called once; the watchdog stops. */
  onSilence(silentMs: number): void;
}

/**
 * Watches one link for silence, on both sides: the engine watching its aggregator, the aggregator watching
 * each engine. `heard()` at every frame received; nothing heard for `timeoutMs` calls `onSilence` once.
 *
 * One timer, set for when the silence would be complete and moved on when it was not. It decides only
 * after the socket reads that a stalled event loop queued behind the timer have landed (`setImmediate`),
 * so a process that was merely busy does not declare a live peer dead.
 */
export class SilenceWatchdog {
  /** Silence this long ends the link (the engine adopts a longer one when the aggregator pings slowly). */
  timeoutMs: number;
  private readonly clock: Clock;
  private readonly onSilence: (silentMs: number) => void;
  private lastHeardAt: number;
  private timer: TimerHandle | undefined;

  constructor(options: SilenceWatchdogOptions) {
    this.clock = options.clock;
    this.timeoutMs = options.timeoutMs;
    this.onSilence = options.onSilence;
    this.lastHeardAt = this.clock.now();
  }

  /** Whether it is watching. */
  get watching(): boolean {
    return this.timer !== undefined;
  }

  /** Starts watching from now (counts as hearing the peer). */
  start(): void {
    this.lastHeardAt = this.clock.now();
    this.arm(this.timeoutMs);
  }

  /** Something was received from the peer. */
  heard(): void {
    this.lastHeardAt = this.clock.now();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(delayMs: number): void {
    const timer = this.clock.setTimeout(() => setImmediate(() => this.check(timer)), Math.max(0, delayMs));
    this.timer = timer;
  }

  private check(timer: TimerHandle): void {
    if (this.timer !== timer) return;
    const silentMs = this.clock.now() - this.lastHeardAt;
    if (silentMs < this.timeoutMs) {
      this.arm(this.timeoutMs - silentMs);
      return;
    }
    this.timer = undefined;
    this.onSilence(silentMs);
  }
}
