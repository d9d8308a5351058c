/**
 * The longest delay a Node timer honours: 2^31 - 1 ms (about 24.8 days). Node runs a timer asked for
 * longer than that after 1 ms, so every duration engine-link accepts is bounded by it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Checks a duration option given to a library constructor: a finite number of milliseconds from `min` to
 * `max` (default MAX_TIMER_MS). Throws a RangeError naming the option otherwise; undefined passes (the
 * default applies).
 */
export function checkDuration(name: string, ms: number | undefined, min = 0, max = MAX_TIMER_MS): void {
  if (ms === undefined) return;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < min || ms > max)
    throw new RangeError(
      `${name} must be a number of milliseconds from ${min} to ${max} (about ${Math.floor(max / 86_400_000)} days at most: the longest a timer can wait); got ${String(ms)}`,
    );
}

/** As `checkDuration`, for an option given in seconds (at most MAX_TIMER_MS / 1000). */
export function checkSeconds(name: string, seconds: number | undefined, min = 0): void {
  if (seconds === undefined) return;
  const max = Math.floor(MAX_TIMER_MS / 1000);
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < min || seconds > max)
    throw new RangeError(
      `${name} must be a number of seconds from ${min} to ${max} (about 24 days at most: the longest a timer can wait); got ${String(seconds)}`,
    );
}
