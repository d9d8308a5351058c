import { MAX_TIMER_MS } from './timerBounds.ts';

/**
 * Time as a dependency. Everything in engine-link that waits or stamps takes a `Clock`, so tests can
 * advance a simulated clock instead of sleeping.
 */
export interface TimerHandle {
  /** Cancels the timer (nothing happens if it already ran). */
  cancel(): void;
}

/** The clock everything that waits or stamps takes: `systemClock`, or a `SimulatedClock` in tests. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `callback` once, `ms` from now (at most MAX_TIMER_MS: a longer delay waits that long). */
  setTimeout(callback: () => void, ms: number): TimerHandle;
}

/**
 * The real clock: `Date.now()` and unref'd Node timers (a timer never keeps the process alive), waits capped
 * at what a Node timer can wait.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    // Node runs a timer asked for more than 2^31 - 1 ms after 1 ms: a longer delay waits the longest it can.
    const timer = setTimeout(callback, Math.min(ms, MAX_TIMER_MS));
    timer.unref?.();
    return { cancel: () => clearTimeout(timer) };
  },
};
