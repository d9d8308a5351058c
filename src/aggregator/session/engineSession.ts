import type { Logger } from 'pino';
import { type EngineSessionEvent, engineSessionMachine } from '../../../machines/engineSession.ts';
import { CloseCode, closeCodeFor, ErrorCode, ProtocolError } from '../../protocol/errors.ts';
import { type EngineMessage, type Hello, PROTOCOL_VERSION } from '../../protocol/messages.ts';
import { MachineRuntime } from '../../runtime/machineRuntime.ts';
import type { Clock } from '../../time/clock.ts';
import type { AggregatorTransport } from '../../transport/sides.ts';
import { AGGREGATOR_DEFAULTS } from '../aggregatorDefaults.ts';
import { AsyncGroupCommit } from '../store/asyncGroupCommit.ts';
import type { AsyncStore } from '../store/asyncStore.ts';
import { LeaseHeldError } from '../store/engineLeases.ts';
import type { EngineSummary, StoredGap } from '../store/recordStore.ts';
import type { EngineSessionOptions } from './engineSessionOptions.ts';
import { EngineTally } from './engineTally.ts';
import type {
  EngineAvailability,
  EngineSessionEvents,
  EngineView,
  SessionEventSink,
  SessionRunHooks,
} from './engineView.ts';
import { FrameIngest } from './frameIngest.ts';
import { type Inbound, LinkConnection, plainMessage } from './linkConnection.ts';
import { type CommandOutcome, PendingCommands } from './pendingCommands.ts';
import { Pinger } from './pinger.ts';

export type { EngineSessionOptions };

const AVAILABILITY_OF_STATE = {
  offline: 'offline',
  catchingUp: 'catching-up',
  available: 'available',
  unavailable: 'unavailable',
} as const satisfies Record<string, EngineAvailability>;
type SessionState = keyof typeof AVAILABILITY_OF_STATE;

/**
 * The aggregator's session with one engine: runs the `engineSession` machine and carries out its actions
 * (welcome, heartbeat, progress, commands, what the run ledger is told), holds the engine's current link
 * (a new connection for the same engine replaces it), answers hello and goodbye, and hands records frames
 * to its frame ingest. Shows the engine (`view`) and delivers commands to it.
 */
export class EngineSession {
  readonly engineId: string;
  private readonly store: AsyncStore;
  private readonly groupCommit: AsyncGroupCommit;
  private readonly clock: Clock;
  private readonly heartbeatMs: number;
  private readonly heartbeatTimeoutMs: number;
  private readonly busyRetryAfterMs: number;
  private readonly logger: Logger;
  private readonly events: SessionEventSink;
  private readonly runs: SessionRunHooks | undefined;
  private readonly leases: EngineSessionOptions['leases'];
  private readonly runtime: MachineRuntime<typeof engineSessionMachine>;
  private readonly tally: EngineTally;
  private readonly ingest: FrameIngest;
  private readonly commands: PendingCommands;
  private readonly pinger: Pinger;
  private current: LinkConnection | undefined;
  /**
   * The machine's state as users are shown it (taken once a transition is complete, before the run ledger
   * is told), the state last announced to listeners (engineState), and since when.
   */
  private state: SessionState | undefined;
  private announced: SessionState | undefined;
  private since: number;
  /** Why the next state change happens, for the engineState event. */
  private pendingReason: string | undefined;
  private stopped = false;

  constructor(options: EngineSessionOptions) {
    this.engineId = options.engineId;
    this.store = options.store;
    this.clock = options.clock;
    this.heartbeatMs = options.heartbeatMs;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs;
    this.busyRetryAfterMs = options.busyRetryAfterMs ?? AGGREGATOR_DEFAULTS.busyRetryAfterMs;
    this.logger = options.logger.child({ engineId: options.engineId });
    this.events = options.events;
    this.runs = options.runs;
    this.leases = options.leases;
    this.groupCommit = options.groupCommit ?? new AsyncGroupCommit(this.store);
    this.tally = new EngineTally(options.summary, options.gaps ?? []);
    // An engine known from the store has been offline since it was last seen.
    this.since = this.tally.lastSeenAt ?? this.clock.now();
    this.commands = new PendingCommands(
      this.clock,
      options.commandTimeoutMs ?? AGGREGATOR_DEFAULTS.commandTimeoutMs,
    );
    this.pinger = new Pinger(this.clock, this.heartbeatMs, () => this.current);
    this.ingest = new FrameIngest({
      engineId: this.engineId,
      store: this.store,
      groupCommit: this.groupCommit,
      tally: this.tally,
      runs: this.runs,
      clock: this.clock,
      logger: this.logger,
      maxRecordsPerFrame: options.maxRecordsPerFrame,
      maxIngestRate: options.maxIngestRate,
      busyRetryAfterMs: this.busyRetryAfterMs,
      isCurrent: (connection) => connection === this.current,
      committed: ({ persistedSeq, inserted }) => {
        this.events.emit('persisted', { engineId: this.engineId, seq: persistedSeq, inserted });
        // Only catch-up listens for commits (see the machine): no event per frame once available.
        if (this.runtime.state === 'catchingUp') this.dispatch({ type: 'PERSISTED', seq: persistedSeq });
      },
    });
    this.runtime = new MachineRuntime(engineSessionMachine, {
      clock: this.clock,
      inspect: options.inspect,
      actions: (runtime) => this.actions(runtime),
      onState: (state) => {
        this.state = state as SessionState;
      },
    });
    this.runtime.start();
  }

  /** The engine's link as shown to users. */
  get link(): EngineAvailability {
    return AVAILABILITY_OF_STATE[this.state ?? 'offline'];
  }

  /** Whether a transport is currently attached. */
  get connected(): boolean {
    return this.current !== undefined;
  }

  /** Takes over a newly accepted transport for this engine, replacing the current one if any. */
  attach(transport: AggregatorTransport): void {
    if (this.stopped || transport.state === 'closed') {
      transport.close(CloseCode.GoingAway, 'aggregator shutting down');
      return;
    }
    const previous = this.current;
    if (previous) {
      this.logger.info('a new connection replaces the current one');
      previous.transport.send({
        type: 'error',
        code: ErrorCode.Replaced,
        message: `another connection for engine ${this.engineId} took over this one`,
      });
      previous.end('replaced by a new connection', {
        code: closeCodeFor(ErrorCode.Replaced),
        reason: 'replaced by a new connection',
      });
    }
    const connection = new LinkConnection({
      transport,
      clock: this.clock,
      heartbeatTimeoutMs: this.heartbeatTimeoutMs,
      busyRetryAfterMs: this.busyRetryAfterMs,
      logger: this.logger,
      handle: (link, inbound) => this.handle(link, inbound),
      joinsInFlight: (link, inbound) =>
        'message' in inbound &&
        inbound.message.type === 'records' &&
        this.ingest.joinsInFlight(link, inbound.message),
      report: (error) => this.report(error),
      ended: (link, lostReason) => this.ended(link, lostReason),
    });
    this.current = connection;
    transport.on('message', (message) => this.onMessage(connection, message));
    transport.on('protocolError', (error) => {
      if (connection.ended) return;
      this.heard(connection);
      connection.receive({ error });
    });
    transport.on('close', (info) => {
      if (connection.ended) return;
      connection.end(`link closed (${info.code}${info.reason ? ` ${info.reason}` : ''})`);
    });
  }

  /**
   * Sends a command over the current link and resolves with its outcome. The caller checks that the
   * engine is available first (the aggregator's command gate).
   */
  command(id: string, name: string, args: unknown): Promise<CommandOutcome> {
    return this.commands.start(id, { name, args }, () => {
      const transport = this.current?.transport;
      if (!transport || transport.state !== 'open') return false;
      return transport.send({ type: 'command', id, name, args });
    });
  }

  /** What the store knew of the engine, read at start after this session was created (see Aggregator). */
  restoreTally(summary: EngineSummary, gaps: StoredGap[]): void {
    this.tally.restore(summary, gaps);
  }

  view(): EngineView {
    const tally = this.tally;
    return {
      id: this.engineId,
      link: this.link,
      since: this.since,
      epoch: tally.epoch,
      persistedSeq: tally.persistedSeq,
      targetSeq: this.targetSeq(),
      persistedCount: tally.persistedCount,
      duplicatesIgnored: tally.duplicatesIgnored,
      gaps: tally.gaps.map((gap) => ({ ...gap })),
      lastSeenAt: tally.lastSeenAt,
    };
  }

  /** Closes the engine's link, if any, telling it why (in a fleet: the engine is no longer this node's). */
  dropLink(error: ProtocolError, retryAfterMs?: number): void {
    this.current?.fail(error, retryAfterMs);
  }

  /** Closes the link (1001 going away) and stops every timer; the session is done. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.current?.end(undefined, { code: CloseCode.GoingAway, reason: 'aggregator shutting down' });
    this.pinger.stop();
    this.runtime.stop();
  }

  // Frames

  private onMessage(connection: LinkConnection, message: EngineMessage): void {
    if (connection.ended) return;
    this.heard(connection);
    // Pongs and command results are answered by nothing on the link: they never wait.
    if (message.type === 'pong') return;
    if (message.type === 'commandResult') {
      if (!this.commands.settle(message))
        this.logger.debug({ commandId: message.id }, 'command result ignored: nobody waits for it');
      return;
    }
    connection.receive({ message });
  }

  private heard(connection: LinkConnection): void {
    connection.heard();
    this.tally.lastSeenAt = this.clock.now();
  }

  /** One frame of the link, in order. */
  private handle(connection: LinkConnection, inbound: Inbound): void {
    if ('error' in inbound) {
      // A frame too large is cut off: the peer cannot be followed further. Anything else was one bad frame.
      if (inbound.error.code === ErrorCode.FrameTooLarge) connection.fail(inbound.error);
      else connection.tell(inbound.error);
      return;
    }
    const message = inbound.message;
    connection.guarded(() => {
      switch (message.type) {
        case 'hello':
          this.onHello(connection, message);
          break;
        case 'records':
          this.ingest.receive(connection, message);
          break;
        case 'bye':
          this.onBye(connection, message, inbound);
          break;
      }
    });
  }

  /**
   * A hello is answered in a transaction of the group commit (after the frames committed before it): the
   * engine is noted as seen, its high-water mark read, and the run ledger told what the engine says it
   * runs; once committed, the machine hears HELLO (and welcomes the engine). The link's later frames wait
   * for that answer.
   */
  private onHello(connection: LinkConnection, hello: Hello): void {
    if (!connection.acceptsHello(hello, this.engineId)) return;
    connection.submitted();
    this.groupCommit.add<number>({
      isolated: true,
      work: async () => {
        // In a fleet the engine is this node's from here (LeaseHeldError: another node's).
        await this.leases?.acquire(this.engineId);
        await this.store.touchEngine(this.engineId, hello.epoch, this.clock.now());
        const persistedSeq = await this.store.highWaterMark(this.engineId, hello.epoch);
        // Runs first learn what the engine says it runs; the HELLO may already make the engine available.
        await this.runs?.hello(this.engineId, hello.epoch, hello.lastSeq, hello.snapshot);
        return persistedSeq;
      },
      committed: (persistedSeq) => {
        if (connection.ended) {
          // The link went away while its hello was committed: what the hello confirmed is unconfirmed again.
          if (connection === this.current || this.current === undefined) this.runs?.linkLost(this.engineId);
        } else connection.guarded(() => this.welcome(connection, hello, persistedSeq));
        connection.answered();
      },
      failed: (error) => {
        if (error instanceof LeaseHeldError) {
          this.logger.info({ node: error.node }, 'engine refused: another aggregator node holds it');
          if (!connection.ended)
            connection.fail(new ProtocolError(ErrorCode.Busy, error.message), error.retryAfterMs);
        } else {
          this.logger.error({ err: error }, 'could not answer a hello');
          if (!connection.ended)
            connection.guarded(() => {
              throw error;
            });
        }
        connection.answered();
      },
    });
  }

  /** The hello is committed: the session takes the engine's epoch and its machine hears HELLO. */
  private welcome(connection: LinkConnection, hello: Hello, persistedSeq: number): void {
    if (hello.lastSeq < persistedSeq)
      this.logger.warn(
        { epoch: hello.epoch, lastSeq: hello.lastSeq, persistedSeq },
        'engine claims fewer records than are persisted for its epoch',
      );
    const tally = this.tally;
    if (tally.epoch !== null && tally.epoch !== hello.epoch)
      this.logger.info({ epoch: hello.epoch, previous: tally.epoch }, 'engine started a new epoch');
    connection.epoch = hello.epoch;
    tally.epoch = hello.epoch;
    tally.persistedSeq = persistedSeq;
    this.dispatch({ type: 'HELLO', lastSeq: hello.lastSeq, persistedSeq });
  }

  /** A goodbye is answered once the frames before it are: it waits at the head of the inbox. */
  private onBye(connection: LinkConnection, bye: { reason?: string }, inbound: Inbound): void {
    // Frames still waiting for the ingest rate were received before the goodbye: store them now.
    this.ingest.flushWaiting(connection);
    if (connection.ended) return;
    if (connection.framesInFlight > 0) {
      connection.deferUntilAnswered(inbound);
      return;
    }
    this.dispatch({ type: 'GOODBYE' }, bye.reason ? `engine said bye: ${bye.reason}` : 'engine said bye');
    connection.end(undefined, { code: CloseCode.Normal, reason: 'bye' });
  }

  /** A link ended: when it was the engine's link, the machine hears that it was lost (unless it said bye). */
  private ended(connection: LinkConnection, lostReason: string | undefined): void {
    this.ingest.linkEnded(connection);
    if (connection !== this.current) return;
    // Pings stop as the machine leaves catching-up or available (stopHeartbeat): on LINK_LOST below or the
    // GOODBYE before this; the pinger also skips a tick without a current link.
    this.current = undefined;
    const lastSeenAt = this.tally.lastSeenAt;
    const epoch = connection.epoch;
    // After the link's frames: when the engine was last seen, and (in a fleet) its lease given up.
    if ((epoch !== undefined && lastSeenAt !== null) || this.leases)
      this.groupCommit
        .run(async () => {
          if (epoch !== undefined && lastSeenAt !== null)
            await this.store.touchEngine(this.engineId, epoch, lastSeenAt);
          await this.leases?.release(this.engineId);
        })
        .catch((error) =>
          this.logger.error({ err: error }, 'could not record when the engine was last seen'),
        );
    if (lostReason !== undefined) this.dispatch({ type: 'LINK_LOST', reason: lostReason }, lostReason);
  }

  private report(error: ProtocolError): void {
    this.logger.warn({ code: error.code }, plainMessage(error));
    this.events.emit('protocolError', {
      engineId: this.engineId,
      code: error.code,
      message: plainMessage(error),
    });
  }

  // Machine

  private dispatch(event: EngineSessionEvent, reason?: string): void {
    this.pendingReason = reason;
    this.runtime.dispatch(event);
    this.pendingReason = undefined;
  }

  private targetSeq(): number {
    return Math.max(this.runtime.context.targetSeq, this.tally.persistedSeq);
  }

  /** The effects of the engineSession machine. */
  private actions(runtime: MachineRuntime<typeof engineSessionMachine>) {
    return {
      sendWelcome: ({ event }: { event: EngineSessionEvent }) => {
        if (event.type !== 'HELLO') return;
        this.current?.transport.send({
          type: 'welcome',
          v: PROTOCOL_VERSION,
          ackSeq: event.persistedSeq,
          heartbeatMs: this.heartbeatMs,
        });
      },
      startHeartbeat: () => this.pinger.start(),
      stopHeartbeat: () => this.pinger.stop(),
      publishProgress: () => {
        const reason = this.pendingReason;
        runtime.afterTransition(() => this.publish(reason));
      },
      failPendingCommands: (_: unknown, params: { reason: string }) => this.commands.failAll(params.reason),
      reconcileRuns: () => runtime.afterTransition(() => this.runs?.caughtUp(this.engineId)),
      unconfirmRuns: () => runtime.afterTransition(() => this.runs?.linkLost(this.engineId)),
    };
  }

  /** Tells listeners what the last transition changed: the link state (with `reason`), and catch-up progress. */
  private publish(reason: string | undefined): void {
    const state = this.runtime.state as SessionState;
    if (state !== this.announced) {
      // Since now; the first state dates from when the engine was last seen.
      if (this.announced !== undefined) this.since = this.clock.now();
      this.announced = state;
      const event: EngineSessionEvents['engineState'][0] = {
        engineId: this.engineId,
        link: AVAILABILITY_OF_STATE[state],
        since: this.since,
      };
      if (reason !== undefined && state !== 'catchingUp' && state !== 'available') event.reason = reason;
      this.events.emit('engineState', event);
    }
    this.events.emit('progress', {
      engineId: this.engineId,
      persistedSeq: this.tally.persistedSeq,
      targetSeq: this.targetSeq(),
    });
  }
}
