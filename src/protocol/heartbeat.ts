/**
 * The heartbeat both sides agree on by default. The aggregator pings every `intervalMs` (and says so in
 * its welcome); each side counts `timeoutMs` of silence as a dead or half-open link. With a ping every
 * second, a dead or half-open link is noticed 1.5 to 2.5 s after it dies (the promise is 3 s).
 */
export const HEARTBEAT_DEFAULTS = {
  intervalMs: 1000,
  timeoutMs: 2500,
} as const;
