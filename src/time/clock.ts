import { MAX_TIMER_MS } from './timerBounds.ts';

/**
 * Time as a dependency. Everything in engine-link that waits or stamps takes a `Clock`, so tests can
 * advance a simulated clock instead of sleeping.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `callback` once, `ms` from now (at most MAX_TIMER_MS: a longer delay waits that long). */
  setTimeout(callback: () => void, ms: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    // Node runs a timer asked for more than 2^31 - 1 ms after 1 ms: a longer delay waits the longest it can.
    const timer = setTimeout(callback, Math.min(ms, MAX_TIMER_MS));
    timer.unref?.();
    return { cancel: () => clearTimeout(timer) };
  },
};
