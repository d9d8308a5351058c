import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/codec.ts';
import { HEARTBEAT_DEFAULTS } from '../protocol/heartbeat.ts';
import { DURABLE_OUTBOX_DEFAULTS, MEMORY_OUTBOX_DEFAULTS } from './outbox/outboxDefaults.ts';

/**
 * Every default of the engine side, in one object: the resilient dispatcher's options and its outboxes'.
 * The constructors fall back on these, and the CLI's options take their defaults from here, so a default
 * is written once (README: Dispatcher options, Durable outbox).
 */
export const ENGINE_DEFAULTS = {
  /** Silence from the aggregator that counts as a dead or half-open link. */
  heartbeatTimeoutMs: HEARTBEAT_DEFAULTS.timeoutMs,
  /** A connection attempt (upgrade and welcome) slower than this is abandoned. */
  connectTimeoutMs: 5000,
  /** Reconnect backoff: attempt n waits between `initialMs` and min(maxMs, initialMs·2^(n+1)). */
  retry: { initialMs: 500, maxMs: 10_000 },
  /** While the aggregator refuses the engine (its token or id), the link is tried again this often. */
  rejectedRetryMs: 60_000,
  /** Frames sent and not yet acknowledged, at most. */
  windowFrames: 8,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  /** Least time between two `backlog` events. */
  backlogEventMs: 250,
  outbox: MEMORY_OUTBOX_DEFAULTS,
  durableOutbox: DURABLE_OUTBOX_DEFAULTS,
} as const;
