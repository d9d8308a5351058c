import { ENGINE_DEFAULTS } from './engineDefaults.ts';

/** How the link waits between connection attempts (`retry` of the dispatcher's options). */
export interface BackoffOptions {
  /** Shortest wait before a retry, and the first retry's lower bound (ms). Default 500. */
  initialMs?: number;
  /** Longest wait between retries (ms). Default 10 000. */
  maxMs?: number;
}

/**
 * Exponential backoff with full jitter above a floor: attempt n waits uniformly between `initialMs` and
 * min(maxMs, initialMs * 2^(n+1)). At the cap the waits stay spread over the whole range, so engines that
 * lost the same aggregator do not come back in lockstep. A `retryAfterMs` asked for by the aggregator is
 * honoured as a lower bound.
 */
export function retryDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
  retryAfterMs: number | null = null,
): number {
  const initialMs = options.initialMs ?? ENGINE_DEFAULTS.retry.initialMs;
  const maxMs = Math.max(initialMs, options.maxMs ?? ENGINE_DEFAULTS.retry.maxMs);
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt + 1, 40));
  const delay = Math.round(initialMs + random() * (ceiling - initialMs));
  return retryAfterMs === null ? delay : Math.max(delay, retryAfterMs);
}
