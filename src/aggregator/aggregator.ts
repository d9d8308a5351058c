import { createHash, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import pino, { type Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
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
import type { CommandOutcome } from './pendingCommands.ts';
import { RunLedger, type RunView } from './runLedger.ts';
import type { EngineSummary, RunQuery, Store } from './store.ts';

export type { CommandOutcome, EngineView, LinkState, RunView };
export type AggregatorEvents = EngineSessionEvents & { run: [run: RunView] };

/** An engine as the API shows it: its link, and the run it is on. */
export type EngineWithRun = EngineView & { currentRun: RunView | null };

/** A command the aggregator will not deliver, and why. */
export interface CommandRefusal {
  error: 'engine-unavailable' | 'engine-catching-up';
  engineId: string;
  /** The engine's link state and since when (aggregator time). */
  link: LinkState;
  since: number;
}

export class UnknownEngineError extends Error {
  override readonly name = 'UnknownEngineError';
  constructor(readonly engineId: string) {
    super(`unknown engine ${engineId}`);
  }
}

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
  /** How long a run may stay unconfirmed before it is declared interrupted (default 24 h). */
  abandonAfterMs?: number;
  /** How long a command waits for the engine's answer (default 10 s). */
  commandTimeoutMs?: number;
  logger?: Logger;
  /** Receives the inspection events of every engineSession and runReconciliation actor (Stately inspector). */
  inspect?: (event: InspectionEvent) => void;
}

export const DEFAULT_ABANDON_AFTER_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

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
  private readonly commandTimeoutMs: number;
  private readonly inspect: AggregatorOptions['inspect'];
  readonly runs: RunLedger;
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
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.inspect = options.inspect;
    this.runs = new RunLedger({
      store: this.store,
      clock: this.clock,
      abandonAfterMs: options.abandonAfterMs ?? DEFAULT_ABANDON_AFTER_MS,
      logger: this.logger,
      inspect: options.inspect,
    });
    this.runs.on('run', (run) => this.emit('run', run));
    this.store.transaction(() => this.runs.load());
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

  /** Every known engine, by id, with the run it is on. */
  engines(): EngineWithRun[] {
    return [...this.sessions.values()]
      .map((session) => this.withRun(session.view()))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  engine(engineId: string): EngineWithRun | undefined {
    const view = this.sessions.get(engineId)?.view();
    return view && this.withRun(view);
  }

  /** Runs, newest first. */
  listRuns(query: RunQuery = {}): RunView[] {
    return this.runs.list(query);
  }

  run(runId: string): RunView | undefined {
    return this.runs.get(runId);
  }

  /**
   * The command gate: delivers a command only to an available engine. A refusal comes back at once
   * (never queued); `UnknownEngineError` for an engine never seen.
   */
  command(
    engineId: string,
    request: { id: string; name: string; args?: unknown },
  ): CommandRefusal | Promise<CommandOutcome> {
    const session = this.sessions.get(engineId);
    if (!session) throw new UnknownEngineError(engineId);
    const view = session.view();
    if (view.link !== 'available')
      return {
        error: view.link === 'catching-up' ? 'engine-catching-up' : 'engine-unavailable',
        engineId,
        link: view.link,
        since: view.since,
      };
    return session.command(request.id, request.name, request.args);
  }

  /** Closes every link (1001 going away), stops every timer, then closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const session of this.sessions.values()) session.stop();
    this.runs.stop();
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
      runs: this.runs,
      commandTimeoutMs: this.commandTimeoutMs,
      inspect: this.inspect,
    });
  }

  private withRun(view: EngineView): EngineWithRun {
    return { ...view, currentRun: this.runs.currentRun(view.id) ?? null };
  }
}
