import { EventEmitter } from 'eventemitter3';
import pino, { type Logger } from 'pino';
import { engineIdProblem } from '../protocol/engineId.ts';
import { CloseCode, closeCodeFor, ErrorCode, ProtocolError } from '../protocol/errors.ts';
import { type Clock, systemClock } from '../time/clock.ts';
import type { Acceptor, AggregatorTransport, AuthDecision, ConnectRequest } from '../transport/sides.ts';
import { AGGREGATOR_DEFAULTS } from './aggregatorDefaults.ts';
import { type AggregatorOptions, checkAggregatorDurations } from './aggregatorOptions.ts';
import { EngineCredentials, type EngineCredentialsOptions } from './auth/engineCredentials.ts';
import type { FleetEvents, FleetMembership } from './fleet/fleetMembership.ts';
import { joinFleet } from './fleet/fleetNode.ts';
import { RunLedger, type RunView } from './runs/runLedger.ts';
import { EngineSession, type EngineSessionOptions } from './session/engineSession.ts';
import type { EngineAvailability, EngineSessionEvents, EngineView } from './session/engineView.ts';
import type { CommandOutcome } from './session/pendingCommands.ts';
import { AsyncGroupCommit, type CommittedGroup } from './store/asyncGroupCommit.ts';
import { asAsyncStore } from './store/asyncSqliteStore.ts';
import type { AsyncStore } from './store/asyncStore.ts';
import type { EngineSummary, StoredGap } from './store/recordStore.ts';
import type { RunQuery, StoredRun } from './store/runStore.ts';

export type { AggregatorOptions, CommandOutcome, EngineAvailability, EngineView, RunView };
/**
 * The aggregator's events (eventemitter3, typed): the sessions' (`engineState`, `persisted`, `progress`,
 * `protocolError`), runs, links accepted and refused, group commits and commands.
 */
export type AggregatorEvents = EngineSessionEvents & {
  run: [run: RunView];
  /** An engine's link was accepted (aggregator time). */
  connection: [{ engineId: string; at: number }];
  /** An engine's link was refused at the upgrade (or, past the engine limit, closed at once). */
  refused: [{ engineId: string; status: number; message: string }];
  /** The store (PostgreSQL) went away, or came back: nothing is acknowledged while it is away. */
  store: [{ available: boolean; reason: string | undefined }];
  /** A group of frames was committed (or rolled back): frames in it, and its transaction's wall time. */
  commit: [group: CommittedGroup];
  /** A command was answered: delivered (`ok`, `failed`, `timeout`, `outcome-unknown`) or refused at once. */
  command: [{ engineId: string; outcome: CommandOutcomeName }];
};

/** How a command ended, as the `command` event and the metrics name it. */
export type CommandOutcomeName = CommandOutcome['status'] | CommandRefusal['error'] | 'unknown-engine';

/** An engine as the API shows it: its link, and the run it is on. */
export type EngineWithRun = EngineView & { currentRun: StoredRun | null };

/** A command the aggregator will not deliver, and why. */
export interface CommandRefusal {
  error: 'engine-unavailable' | 'engine-catching-up';
  engineId: string;
  /** The engine's link state and since when (aggregator time). */
  link: EngineAvailability;
  since: number;
}

/** A command or lookup named an engine the aggregator has never seen (the HTTP API answers 404). */
export class UnknownEngineError extends Error {
  override readonly name = 'UnknownEngineError';
  constructor(readonly engineId: string) {
    super(`unknown engine ${engineId}`);
  }
}

/**
 * The aggregator: authorises engines at the upgrade, gives each engine a session (created on demand, or
 * from the store at start so that a restarted aggregator shows every known engine and resumes from the
 * persisted high-water marks), and reports what it sees as typed events and views.
 */
export class Aggregator extends EventEmitter<AggregatorEvents> implements Acceptor {
  readonly store: AsyncStore;
  readonly clock: Clock;
  readonly heartbeatMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly maxFrameBytes: number;
  readonly maxEngines: number | undefined;
  readonly maxRecordsPerFrame: number;
  readonly maxIngestRate: number | undefined;
  private credentials: EngineCredentials;
  private readonly busyRetryAfterMs: number;
  private readonly random: () => number;
  private readonly logger: Logger;
  private readonly sessions = new Map<string, EngineSession>();
  readonly commandTimeoutMs: number;
  private readonly inspect: AggregatorOptions['inspect'];
  /** @internal */
  readonly runs: RunLedger;
  /**
   * Every write of the aggregator, in order: the frames of every engine read in one turn of the event
   * loop are committed together, and what arrives while a group commits forms the next group.
   *
   * @internal
   */
  readonly groupCommit: AsyncGroupCommit;
  /** Resolves once the runs and the engines the store knows are loaded (rejects if they cannot be read). */
  readonly ready: Promise<void>;
  /**
   * In a fleet (the store has leases): this node's part in it.
   *
   * @internal
   */
  readonly fleet: FleetMembership | undefined;
  /** In a fleet: what sessions do with leases (taken at hello, the runs adopted with them; given up). */
  private readonly leases: EngineSessionOptions['leases'];
  private closed = false;

  constructor(options: AggregatorOptions) {
    super();
    checkAggregatorDurations(options);
    const defaults = AGGREGATOR_DEFAULTS;
    this.store = asAsyncStore(options.store);
    this.clock = options.clock ?? systemClock;
    this.heartbeatMs = options.heartbeatMs ?? defaults.heartbeatMs;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? defaults.heartbeatTimeoutMs;
    this.maxFrameBytes = options.maxFrameBytes ?? defaults.maxFrameBytes;
    this.credentials = new EngineCredentials({ secret: options.secret, tokens: options.tokens });
    this.maxEngines = options.maxEngines;
    this.maxRecordsPerFrame = options.maxRecordsPerFrame ?? defaults.maxRecordsPerFrame;
    this.maxIngestRate = options.maxIngestRate;
    this.busyRetryAfterMs = options.busyRetryAfterMs ?? defaults.busyRetryAfterMs;
    this.random = options.random ?? Math.random;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.commandTimeoutMs = options.commandTimeoutMs ?? defaults.commandTimeoutMs;
    this.inspect = options.inspect;
    this.groupCommit = new AsyncGroupCommit(this.store, {
      availability: this.store.availability,
      schedule: options.groupCommitSchedule,
      onCallbackError: (error) =>
        this.logger.error({ err: error }, 'a committed frame could not be answered'),
      onGroup: (group) => this.emit('commit', group),
    });
    const ledger = {
      store: this.store,
      pipeline: this.groupCommit,
      clock: this.clock,
      abandonAfterMs: options.abandonAfterMs ?? defaults.abandonAfterMs,
      logger: this.logger,
      inspect: options.inspect,
    };
    // On PostgreSQL opened for a fleet, this aggregator is one node of it (fleet/fleetNode.ts).
    const node = joinFleet({
      store: this.store,
      ledger,
      events: this as unknown as FleetEvents,
      clock: this.clock,
      logger: this.logger,
      renewMs: options.leaseRenewMs ?? defaults.fleet.leaseRenewMs,
      retryAfterMs: () => Math.round(this.busyRetryAfterMs * (1 + this.random())),
      pipeline: (work) => this.groupCommit.run(work),
      localView: (engineId) => this.sessions.get(engineId)?.view(),
      restoreTally: (engineId, summary, gaps) => this.sessions.get(engineId)?.restoreTally(summary, gaps),
      letGo: (engineIds, reason) => this.letGo(engineIds, reason),
    });
    this.runs = node?.runs ?? new RunLedger(ledger);
    this.fleet = node?.membership;
    this.leases = node?.sessionLeases;
    this.runs.on('run', (run) => this.emit('run', run));
    this.store.availability.onChange((available, reason) => {
      if (available) this.logger.info('the store is back: committing what waited');
      else
        this.logger.error(
          { reason },
          'the store is unavailable: nothing is acknowledged until it is back (engines keep their links and their records)',
        );
      this.emit('store', { available, reason });
    });
    this.fleet?.start();
    // First in the pipeline: every hello is answered after it.
    this.ready = this.groupCommit.run(() => this.load()).then(() => this.fleet?.join());
    this.ready.catch((error) =>
      this.logger.error({ err: error }, 'could not load the runs and engines stored'),
    );
  }

  /** Whether the store can commit now, and why not (PostgreSQL can go away; SQLite cannot). */
  get storeAvailability(): AsyncStore['availability'] {
    return this.store.availability;
  }

  /** The unsettled runs come back; every engine the store knows gets its session (or its tally, if connected already). */
  private async load(): Promise<void> {
    await this.runs.load();
    for (const summary of await this.store.engineSummaries()) {
      const gaps = await this.store.gaps(summary.engineId);
      const session = this.sessions.get(summary.engineId);
      if (session) session.restoreTally(summary, gaps);
      else this.sessions.set(summary.engineId, this.createSession(summary.engineId, summary, gaps));
    }
  }

  /**
   * Replaces how engines are authenticated (a reloaded token file, say). Links already open stay open;
   * every new link is checked against the new credentials.
   */
  setCredentials(options: EngineCredentialsOptions): void {
    this.credentials = new EngineCredentials(options);
  }

  /** Engines with a link attached now. */
  get connectedEngines(): number {
    let n = 0;
    for (const session of this.sessions.values()) if (session.connected) n++;
    return n;
  }

  /**
   * Decides at the upgrade whether an engine may link: its id, its token, the engine limit. A refusal is told
   * as a `refused` event too.
   *
   * @internal
   */
  authorize(request: ConnectRequest): AuthDecision {
    const decision = this.decide(request);
    if (!decision.ok)
      this.emit('refused', {
        engineId: request.engineId,
        status: decision.status,
        message: decision.message,
      });
    return decision;
  }

  /**
   * Takes an engine link the server authorised (`authorize`): gives it to the engine's session, replacing an
   * earlier link of the same engine. Used by the aggregator's handler.
   *
   * @internal
   */
  accept(transport: AggregatorTransport, request: ConnectRequest): void {
    if (this.closed) {
      transport.close(CloseCode.GoingAway, 'aggregator shutting down');
      return;
    }
    // Authorised a moment ago, but another engine may have taken the last place since.
    const full = this.overEngineLimit(request.engineId);
    if (full) {
      this.emit('refused', { engineId: request.engineId, status: full.status, message: full.message });
      transport.send({
        type: 'error',
        code: ErrorCode.Busy,
        message: full.message,
        retryAfterMs: full.retryAfterMs,
      });
      transport.close(closeCodeFor(ErrorCode.Busy), 'too many engines');
      return;
    }
    let session = this.sessions.get(request.engineId);
    if (!session) {
      session = this.createSession(request.engineId);
      this.sessions.set(request.engineId, session);
    }
    this.logger.debug({ engineId: request.engineId }, 'engine connected');
    session.attach(transport);
    this.emit('connection', { engineId: request.engineId, at: this.clock.now() });
  }

  private decide(request: ConnectRequest): AuthDecision {
    if (this.closed) return { ok: false, status: 503, message: 'the aggregator is shutting down' };
    const badId = engineIdProblem(request.engineId);
    if (badId) return { ok: false, status: 400, message: badId };
    const check = this.credentials.check(request.engineId, request.token);
    if (!check.ok) {
      this.logger.warn({ engineId: request.engineId, why: check.detail }, 'engine refused: invalid token');
      return { ok: false, status: 401, message: check.message };
    }
    const away = this.fleet?.refusal();
    if (away) return away;
    const full = this.overEngineLimit(request.engineId);
    if (full) this.logger.warn({ engineId: request.engineId, maxEngines: this.maxEngines }, full.message);
    return full ?? { ok: true };
  }

  /** The refusal for one engine too many, or undefined when there is room (a reconnect always has). */
  private overEngineLimit(engineId: string): (AuthDecision & { ok: false }) | undefined {
    const max = this.maxEngines;
    if (max === undefined || this.sessions.get(engineId)?.connected || this.connectedEngines < max)
      return undefined;
    // Jittered, so that engines refused together do not all come back together.
    const retryAfterMs = Math.round(this.busyRetryAfterMs * (1 + this.random()));
    return {
      ok: false,
      status: 503,
      message: `the aggregator serves at most ${max} engines at a time and all places are taken; try again later`,
      retryAfterMs,
    };
  }

  /** Every known engine, by id, with the run it is on (in a fleet: every engine of the fleet, with its node). */
  engines(): EngineWithRun[] {
    const local = [...this.sessions.values()].map((session) => session.view());
    if (this.fleet) return this.fleet.views(local).map((view) => this.withRun(view));
    return local.map((view) => this.withRun(view)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** One engine, with the run it is on (undefined: never seen). */
  engine(engineId: string): EngineWithRun | undefined {
    const local = this.sessions.get(engineId)?.view();
    const view = this.fleet ? this.fleet.directory.one(engineId, local, this.fleet.held()) : local;
    return view && this.withRun(view);
  }

  /** Runs, newest first. */
  listRuns(query: RunQuery = {}): Promise<RunView[]> {
    return this.runs.list(query);
  }

  /** One run (undefined: unknown). */
  run(runId: string): Promise<RunView | undefined> {
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
    if (!session && this.fleet?.directory.knows(engineId)) {
      // Another node's engine (its owner answers commands forwarded to it): not reachable from here.
      this.emit('command', { engineId, outcome: 'engine-unavailable' });
      return { error: 'engine-unavailable', engineId, link: 'unavailable', since: this.clock.now() };
    }
    if (!session) {
      this.emit('command', { engineId, outcome: 'unknown-engine' });
      throw new UnknownEngineError(engineId);
    }
    const view = session.view();
    if (view.link !== 'available') {
      const error = view.link === 'catching-up' ? 'engine-catching-up' : 'engine-unavailable';
      this.emit('command', { engineId, outcome: error });
      return { error, engineId, link: view.link, since: view.since };
    }
    return session.command(request.id, request.name, request.args).then((outcome) => {
      this.emit('command', { engineId, outcome: outcome.status });
      return outcome;
    });
  }

  /** Closes every link (1001 going away), stops every timer, then closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Frames already received are committed and acknowledged before the links close; what closing the
    // links writes (when each engine was last seen) is committed after.
    await this.groupCommit.flush();
    for (const session of this.sessions.values()) session.stop();
    await this.groupCommit.close();
    this.fleet?.stop();
    this.runs.stop();
    await this.store.close();
  }

  /** In a fleet: these engines are no longer this node's; their links close and they connect again elsewhere. */
  private letGo(engineIds: readonly string[], reason: string): void {
    for (const engineId of engineIds) {
      this.logger.warn({ engineId }, `engine let go: ${reason}`);
      this.sessions
        .get(engineId)
        ?.dropLink(
          new ProtocolError(
            ErrorCode.Busy,
            `aggregator node ${this.fleet?.nodeId}: ${reason}; connect again`,
          ),
        );
    }
  }

  private createSession(engineId: string, summary?: EngineSummary, gaps?: StoredGap[]): EngineSession {
    return new EngineSession({
      engineId,
      store: this.store,
      gaps,
      clock: this.clock,
      heartbeatMs: this.heartbeatMs,
      heartbeatTimeoutMs: this.heartbeatTimeoutMs,
      logger: this.logger,
      events: this,
      summary,
      runs: this.runs,
      commandTimeoutMs: this.commandTimeoutMs,
      maxRecordsPerFrame: this.maxRecordsPerFrame,
      maxIngestRate: this.maxIngestRate,
      busyRetryAfterMs: this.busyRetryAfterMs,
      inspect: this.inspect,
      groupCommit: this.groupCommit,
      leases: this.leases,
    });
  }

  private withRun(view: EngineView): EngineWithRun {
    return { ...view, currentRun: this.runs.currentRun(view.id) ?? null };
  }
}
