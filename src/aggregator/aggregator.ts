import { createHash, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import pino, { type Logger } from 'pino';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/codec.ts';
import { CloseCode } from '../protocol/errors.ts';
import { type Clock, systemClock } from '../time/clock.ts';
import type { Acceptor, AggregatorTransport, AuthDecision, ConnectRequest } from '../transport/sides.ts';
import {
  type EngineSessionEvents,
  EngineSessionRuntime,
  type EngineView,
  type LinkState,
} from './engineSessionRuntime.ts';
import type { EngineSummary, Store } from './store.ts';

export type { EngineView, LinkState };
export type AggregatorEvents = EngineSessionEvents;

export interface AggregatorOptions {
  store: Store;
  clock?: Clock;
  /** Ping period towards engines (default 1000 ms). */
  heartbeatMs?: number;
  /** Silence after which an engine is unavailable (default 3000 ms). */
  heartbeatTimeoutMs?: number;
  /** When set, engines must present it as their bearer token. */
  secret?: string;
  /** Largest frame accepted from an engine (default 1 MiB). */
  maxFrameBytes?: number;
  logger?: Logger;
}

export const DEFAULT_HEARTBEAT_MS = 1000;
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 3000;

/** Engine ids as the protocol allows them (see `helloSchema`). */
const ENGINE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The aggregator: authorises engines at the upgrade, gives each engine a session (created on demand, or
 * from the store at start so that a restarted aggregator shows every known engine and resumes from the
 * persisted high-water marks), and reports what it sees as typed events and views.
 */
export class Aggregator extends EventEmitter<AggregatorEvents> implements Acceptor {
  readonly store: Store;
  readonly clock: Clock;
  readonly heartbeatMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly maxFrameBytes: number;
  private readonly secretDigest: Buffer | undefined;
  private readonly logger: Logger;
  private readonly sessions = new Map<string, EngineSessionRuntime>();
  private closed = false;

  constructor(options: AggregatorOptions) {
    super();
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.secretDigest = options.secret === undefined ? undefined : digest(options.secret);
    this.logger = options.logger ?? pino({ level: 'silent' });
    for (const summary of this.store.engineSummaries())
      this.sessions.set(summary.engineId, this.createSession(summary.engineId, summary));
  }

  authorize(request: ConnectRequest): AuthDecision {
    if (this.closed) return { ok: false, status: 503, message: 'the aggregator is shutting down' };
    if (!ENGINE_ID.test(request.engineId))
      return {
        ok: false,
        status: 400,
        message: `invalid engine id ${JSON.stringify(request.engineId)}: use 1 to 128 letters, digits and . _ : -`,
      };
    if (this.secretDigest) {
      if (request.token === undefined)
        return {
          ok: false,
          status: 401,
          message: `invalid token for engine ${request.engineId} (no bearer token given)`,
        };
      // Digests have equal lengths, so the comparison takes the same time whatever the token.
      if (!timingSafeEqual(digest(request.token), this.secretDigest))
        return { ok: false, status: 401, message: `invalid token for engine ${request.engineId}` };
    }
    return { ok: true };
  }

  accept(transport: AggregatorTransport, request: ConnectRequest): void {
    if (this.closed) {
      transport.close(CloseCode.GoingAway, 'aggregator shutting down');
      return;
    }
    let session = this.sessions.get(request.engineId);
    if (!session) {
      session = this.createSession(request.engineId);
      this.sessions.set(request.engineId, session);
    }
    this.logger.debug({ engineId: request.engineId }, 'engine connected');
    session.attach(transport);
  }

  /** Every known engine, by id. */
  engines(): EngineView[] {
    return [...this.sessions.values()]
      .map((session) => session.view())
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  engine(engineId: string): EngineView | undefined {
    return this.sessions.get(engineId)?.view();
  }

  /** Closes every link (1001 going away), stops every timer, then closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const session of this.sessions.values()) session.stop();
    this.store.close();
  }

  private createSession(engineId: string, summary?: EngineSummary): EngineSessionRuntime {
    return new EngineSessionRuntime({
      engineId,
      store: this.store,
      clock: this.clock,
      heartbeatMs: this.heartbeatMs,
      heartbeatTimeoutMs: this.heartbeatTimeoutMs,
      logger: this.logger,
      events: this,
      summary,
    });
  }
}
