import type { InspectionEvent } from 'xstate';
import type { RunSnapshot } from '../protocol/messages.ts';
import type { Clock } from '../time/clock.ts';
import { checkDuration } from '../time/timerBounds.ts';
import type { Connector } from '../transport/sides.ts';
import type { BackoffOptions } from './backoff.ts';
import type { CommandHandler } from './commands.ts';
import type { BackpressureInfo, GapInfo } from './outbox/outbox.ts';
import type { OutboxOption } from './outbox/outboxFor.ts';

/** Options of the `ResilientDispatcher` (README, "Dispatcher options"); defaults are `ENGINE_DEFAULTS`. */
export interface ResilientDispatcherOptions {
  engineId: string;
  /** How to reach the aggregator (WebSocketConnector, MemoryNetwork, ...). */
  connector: Connector;
  /** Bearer token presented at the upgrade. */
  token?: string;
  /** An outbox, limits for the default in-memory one, or `{ path, sync, ... }` for a durable one on disk. */
  outbox?: OutboxOption;
  /** While the link is down, thin samples to one per tag per this many ms (offline sampling). Default off. */
  offlineSampleIntervalMs?: number;
  clock?: Clock;
  /** Randomness for retry jitter (tests pass a seeded one). */
  random?: () => number;
  /** Silence from the aggregator longer than this means the link is dead or half-open. Default 2500 ms: with
   * the aggregator's ping every second, a dead or half-open link is noticed 1.5 to 2.5 s after it dies. */
  heartbeatTimeoutMs?: number;
  /** A connection attempt (upgrade and welcome) that takes longer than this is abandoned. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Reconnect backoff. Default 500 ms to 10 s, full jitter. */
  retry?: BackoffOptions;
  /**
   * While the aggregator refuses this engine (401/403: its token; 400/404: its id), the link is tried
   * again this often (records keep waiting in the outbox meanwhile). Default 60 000 ms.
   */
  rejectedRetryMs?: number;
  /**
   * Once the link has been down this long (counted from the dispatcher's start when it never came up),
   * `offlineTooLong` is emitted, once per outage, and `onlineAgain` when the link is back. Default off.
   */
  maxOfflineMs?: number;
  /** Frames sent and not yet acknowledged, at most. Default 8. */
  windowFrames?: number;
  maxFrameBytes?: number;
  /** What the engine tells the aggregator about its runs in every hello. */
  snapshot?: () => RunSnapshot | undefined;
  /** Receives the link machine's inspection events (Stately inspector). */
  inspect?: (event: InspectionEvent) => void;
  /** Least time between two `backlog` events. Default 250 ms. */
  backlogEventMs?: number;
  /** Runs the aggregator's commands (each id at most once). Also settable with `handleCommands`. */
  onCommand?: CommandHandler;
}

/**
 * Options a constructor checks before anything starts: every duration (a RangeError naming the option
 * beyond what a timer can wait). The engine id is the aggregator's to judge (a refusal is a rejection);
 * the CLI checks `--id` against the protocol's rule before it starts.
 */
export function checkDispatcherOptions(options: ResilientDispatcherOptions): void {
  checkDuration('heartbeatTimeoutMs', options.heartbeatTimeoutMs, 1);
  checkDuration('connectTimeoutMs', options.connectTimeoutMs, 1);
  checkDuration('backlogEventMs', options.backlogEventMs);
  checkDuration('offlineSampleIntervalMs', options.offlineSampleIntervalMs);
  checkDuration('retry.initialMs', options.retry?.initialMs);
  checkDuration('retry.maxMs', options.retry?.maxMs);
  checkDuration('rejectedRetryMs', options.rejectedRetryMs, 1);
  checkDuration('maxOfflineMs', options.maxOfflineMs);
}

/** Every state of the engine's link machine (engineLink), as a dotted path: what the `state` event tells. */
export const ENGINE_LINK_STATES = [
  'connecting.opening',
  'connecting.greeting',
  'connected',
  'flushing',
  'buffering.waiting',
  'buffering.reconnecting.opening',
  'buffering.reconnecting.greeting',
  'rejected',
  'stopped',
] as const;

/** The state of the engine's link machine (engineLink), as a dotted path: what the `state` event tells. */
export type EngineLinkState = (typeof ENGINE_LINK_STATES)[number];

/**
 * Counts of a dispatcher (`stats`): what it produced, numbered, had acknowledged, dropped and still holds.
 */
export interface DispatcherStats {
  engineId: string;
  epoch: string;
  /** Records accepted by send() in this process. */
  produced: number;
  lastSeq: number;
  acked: number;
  dropped: number;
  coalesced: number;
  backlog: number;
  /** The aggregator the link is on, or tries next while down (when the connector tells it). */
  aggregator?: string;
}

/** A retry, told with `retry`. */
export interface RetryInfo {
  /** Failed attempts since the link was last up, this one included. */
  attempt: number;
  /** The wait before the next attempt (0: the next aggregator is tried at once). */
  delayMs: number;
  /** Why the link is down (refused, timed out, closed, ...). */
  reason: string;
  /** The aggregator the failed attempt (or the lost link) was with, when the connector tells it. */
  aggregator?: string;
  /** With several aggregators: the one tried next. */
  next?: string;
}

/** How long the link has been down (ms), told with `offlineTooLong` and `onlineAgain`. */
export interface OfflineInfo {
  offlineMs: number;
}

/** The dispatcher's events (eventemitter3, typed). */
export interface ResilientDispatcherEvents {
  state: [state: EngineLinkState];
  backlog: [size: { records: number; bytes: number }];
  flushProgress: [progress: { sent: number; total: number }];
  gap: [gap: GapInfo];
  backpressure: [info: BackpressureInfo];
  /** A retry is scheduled; `reason`: why the link is down (refused, timed out, closed, ...). */
  retry: [retry: RetryInfo];
  /** The link has been down for `maxOfflineMs` (once per outage). */
  offlineTooLong: [info: OfflineInfo];
  /** The link is back after an outage that was reported as `offlineTooLong`. */
  onlineAgain: [info: OfflineInfo];
  error: [error: Error];
}

/**
 * The aggregator refused this engine at the upgrade: its token (401, 403) or its id (400, 404). The
 * dispatcher keeps every record and tries again every `retryInMs`; `reconnect()` tries at once.
 */
export class AuthRejectedError extends Error {
  override readonly name = 'AuthRejectedError';
  constructor(
    message: string,
    /** The HTTP status of the refusal. */
    readonly status: number,
    /** What the aggregator said. */
    readonly detail: string,
    /** When the dispatcher tries again (ms). */
    readonly retryInMs: number,
  ) {
    super(message);
  }

  /** The refusal of `engineId` as the dispatcher reports it: what was refused, that records are kept, when it tries again. */
  static of(
    engineId: string,
    refusal: string,
    status: number,
    detail: string,
    retryInMs: number,
  ): AuthRejectedError {
    const seconds = Math.round(retryInMs / 100) / 10;
    return new AuthRejectedError(
      `aggregator refused engine ${engineId}: ${refusal}. Records are kept; trying again in ` +
        `${seconds} s (fix the ${status === 400 || status === 404 ? 'engine id or URL' : 'token'}, ` +
        'or call reconnect() to try at once).',
      status,
      detail,
      retryInMs,
    );
  }
}
