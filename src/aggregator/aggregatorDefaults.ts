import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/codec.ts';
import { HEARTBEAT_DEFAULTS } from '../protocol/heartbeat.ts';

/**
 * Every default of the aggregator side, in one object: `Aggregator`'s options, the server's and the
 * store's. The constructors fall back on these, and the CLI's options take their defaults from here, so a
 * default is written once (README: CLI, Limits).
 */
export const AGGREGATOR_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  /** Ping period towards engines (told to them in the welcome). */
  heartbeatMs: HEARTBEAT_DEFAULTS.intervalMs,
  /** Silence after which an engine is unavailable. */
  heartbeatTimeoutMs: HEARTBEAT_DEFAULTS.timeoutMs,
  /** Largest frame accepted from an engine. */
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  /** Most items in one records frame; a larger frame closes the link with 1008. */
  maxRecordsPerFrame: 10_000,
  /** The wait asked of engines refused for the engine limit or told `busy` (jittered up to 2x). */
  busyRetryAfterMs: 5000,
  /** How long a run may stay unconfirmed before it is declared interrupted ("engine lost"). */
  abandonAfterMs: 24 * 60 * 60 * 1000,
  /** How long a command waits for the engine's answer. */
  commandTimeoutMs: 10_000,
  /**
   * A fleet of aggregators on one PostgreSQL: how long an engine's lease lasts without renewal (after a
   * node dies, its engines wait about this long before another node may take them), and how often a node
   * renews its leases (a few renewals per lease, so that one slow renewal loses nothing).
   */
  fleet: { leaseMs: 10_000, leaseRenewMs: 2_500 },
  /** How long a client may take to send its request headers (and TLS handshake) before 408. */
  headersTimeoutMs: 10_000,
  /**
   * Live-update streams: how many may be open at once, in all and from one client address; the bytes a
   * stream may leave unsent before its client is disconnected; streams written to per turn of the event
   * loop in a fan-out; how long a snapshot is reused for streams opening after it.
   */
  eventStreams: {
    maxStreams: 256,
    maxStreamsPerClient: 16,
    maxBufferedBytes: 1024 * 1024,
    streamsPerTurn: 200,
    snapshotMaxAgeMs: 100,
  },
} as const;
