import { encodeThinnedSample, type SampleValue } from '../protocol/records.ts';
import { type Clock, systemClock, type TimerHandle } from '../time/clock.ts';
import { checkDuration } from '../time/timerBounds.ts';

export interface OfflineSamplerOptions {
  /** Window length in ms: while offline, at most one record per tag per window reaches the outbox. */
  intervalMs: number;
  /** Where the kept record of each window goes (the outbox). */
  emit: (encodedItem: string) => void;
  clock?: Clock;
}

/** A sample whose time is known. */
export interface TimedSample {
  tag: string;
  t: number;
  value: SampleValue;
  unit?: string;
}

interface Window {
  start: number;
  samples: number;
  latest: TimedSample;
  latestItem: string;
}

/**
 * Offline sampling ("sample and batch up" while the link is down): samples of each tag are thinned to
 * one per window of `intervalMs`, aligned to multiples of it in engine time. The latest sample of a
 * window wins; a window that folded several samples leaves as one thinned-sample item naming its
 * boundaries and how many samples it stands for, a window of one sample as that plain sample. A window
 * closes when its time is up, when a sample of a later window arrives, or on `flush()` (the link came
 * back). The dispatcher only hands samples over while the link is down, so live records are never thinned.
 */
export class OfflineSampler {
  /** Samples folded into a window and not sent on their own, so far. */
  thinned = 0;
  /** Thinned-sample records emitted (windows of two samples or more), so far. */
  windows = 0;

  private readonly intervalMs: number;
  private readonly emitItem: (encodedItem: string) => void;
  private readonly clock: Clock;
  private readonly open = new Map<string, Window>();
  private timer: TimerHandle | undefined;
  private timerDue = Number.POSITIVE_INFINITY;

  constructor(options: OfflineSamplerOptions) {
    checkDuration('intervalMs', options.intervalMs, 1);
    this.intervalMs = options.intervalMs;
    this.emitItem = options.emit;
    this.clock = options.clock ?? systemClock;
  }

  /** Windows open (each holds at least one sample not yet in the outbox). */
  get openWindows(): number {
    return this.open.size;
  }

  /** Takes a sample (with its encoded plain item, sent as it is when the window holds nothing else). */
  offer(sample: TimedSample, encodedItem: string): void {
    const start = Math.floor(sample.t / this.intervalMs) * this.intervalMs;
    const window = this.open.get(sample.tag);
    if (window && window.start === start) {
      window.samples++;
      this.thinned++;
      if (sample.t >= window.latest.t) {
        window.latest = sample;
        window.latestItem = encodedItem;
      }
      return;
    }
    if (window) this.close(sample.tag, window);
    this.open.set(sample.tag, { start, samples: 1, latest: sample, latestItem: encodedItem });
    this.schedule(start + this.intervalMs);
  }

  /** Closes every open window now, oldest first. */
  flush(): void {
    this.cancelTimer();
    for (const [tag, window] of [...this.open]) this.close(tag, window);
  }

  /** Stops the timer (open windows stay open until `flush`). */
  stop(): void {
    this.cancelTimer();
  }

  private close(tag: string, window: Window): void {
    this.open.delete(tag);
    if (window.samples === 1) {
      this.emitItem(window.latestItem);
      return;
    }
    this.windows++;
    this.emitItem(
      encodeThinnedSample(window.latest, window.start, window.start + this.intervalMs, window.samples),
    );
  }

  private schedule(due: number): void {
    if (due >= this.timerDue) return;
    this.cancelTimer();
    this.timerDue = due;
    this.timer = this.clock.setTimeout(this.closeDue, Math.max(0, due - this.clock.now()));
  }

  private readonly closeDue = (): void => {
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [tag, window] of [...this.open]) {
      const end = window.start + this.intervalMs;
      if (end <= now) this.close(tag, window);
      else next = Math.min(next, end);
    }
    if (next < Number.POSITIVE_INFINITY) this.schedule(next);
  };

  private cancelTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
  }
}
