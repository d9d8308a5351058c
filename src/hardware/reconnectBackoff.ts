import { MAX_TIMER_MS } from '../time/timerBounds.ts';
/**
 * How long the hardware recovery waits before each reconnect attempt: 0.5 s before the first, then
 * 2 s, 10 s, 30 s and 2 min, then every 30 min for as long as it takes.
 */
export const DEFAULT_RECONNECT_SCHEDULE_MS: readonly number[] = [
  500, 2_000, 10_000, 30_000, 120_000, 1_800_000,
];

/**
 * The wait before the next attempt after `failedAttempts` failed ones: the schedule's entry at that
 * position, its last entry beyond the end. Pure and deterministic (hardware links have no herd to
 * spread out, unlike engines reconnecting to one aggregator).
 */
export function reconnectDelay(
  failedAttempts: number,
  schedule: readonly number[] = DEFAULT_RECONNECT_SCHEDULE_MS,
): number {
  validateReconnectSchedule(schedule);
  const index = Math.min(Math.max(0, Math.floor(failedAttempts)), schedule.length - 1);
  return schedule[index]!;
}

/** Throws a RangeError unless the schedule is a non-empty list of finite waits of at least 0 ms. */
export function validateReconnectSchedule(schedule: readonly number[]): void {
  if (schedule.length === 0) throw new RangeError('reconnect schedule: needs at least one wait');
  for (const ms of schedule)
    if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIMER_MS)
      throw new RangeError(
        `reconnectScheduleMs: ${ms} is not a wait in milliseconds (0 to ${MAX_TIMER_MS}, the longest a timer can wait)`,
      );
}
