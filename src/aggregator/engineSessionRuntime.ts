import type { Logger } from 'pino';
import { type Actor, createActor, type InspectionEvent } from 'xstate';
import { type EngineSessionEvent, engineSessionMachine } from '../../machines/engineSession.ts';
import { CloseCode, closeCodeFor, ErrorCode, ProtocolError } from '../protocol/errors.ts';
import {
  type EngineMessage,
  type Hello,
  PROTOCOL_VERSION,
  type RecordsFrame,
  type RunSnapshot,
} from '../protocol/messages.ts';
import type { Item } from '../protocol/records.ts';
import type { Clock, TimerHandle } from '../time/clock.ts';
import type { AggregatorTransport } from '../transport/sides.ts';
import type { CloseInfo } from '../transport/transport.ts';
import { GroupCommit } from './groupCommit.ts';
import { IngestThrottle } from './ingestThrottle.ts';
import { type CommandOutcome, PendingCommands } from './pendingCommands.ts';
import type { EngineSummary, IngestResult, Store, StoredGap } from './store.ts';

/** What the runs of an engine need to hear from its session (the aggregator's RunLedger). */
export interface SessionRunHooks {
  hello(engineId: string, epoch: string, lastSeq: number, snapshot: RunSnapshot | undefined): void;
  /**
   * Called inside the transaction that persists the items. `linkUp`: the link they came on is still the
   * engine's link (a frame is committed in a later turn than it was read: its link may be gone by then).
   */
  recordsPersisted(
    engineId: string,
    epoch: string,
    from: number,
    items: readonly Item[],
    markBefore: number,
    linkUp: boolean,
  ): void;
  linkLost(engineId: string): void;
  caughtUp(engineId: string): void;
}

/** How the aggregator shows an engine's link. */
export type LinkState = 'available' | 'unavailable' | 'catching-up' | 'offline';

/** What the aggregator tells about one engine (the HTTP API serves it as JSON). */
export interface EngineView {
  id: string;
  link: LinkState;
  /** When the engine entered `link`, ms since the Unix epoch (aggregator clock). */
  since: number;
  /** The epoch of its last hello (null: it never said hello). */
  epoch: string | null;
  /** Highest sequence number persisted for that epoch. */
  persistedSeq: number;
  /** The end of its backlog when it last said hello (never below persistedSeq). */
  targetSeq: number;
  /** Records stored over all epochs. */
  persistedCount: number;
  /** Items received again and ignored, over all epochs. */
  duplicatesIgnored: number;
  gaps: StoredGap[];
  /** When a frame from the engine was last received, ms since the Unix epoch (null: never). */
  lastSeenAt: number | null;
}

/** Events of the sessions, emitted by the aggregator. */
export interface EngineSessionEvents {
  engineState: [{ engineId: string; link: LinkState; since: number; reason?: string }];
  persisted: [{ engineId: string; seq: number; inserted: number }];
  progress: [{ engineId: string; persistedSeq: number; targetSeq: number }];
  protocolError: [{ engineId: string; code: ErrorCode; message: string }];
}

/** Where a session's events go: anything that can emit them (the aggregator). */
export interface SessionEventSink {
  emit<K extends keyof EngineSessionEvents>(name: K, ...args: EngineSessionEvents[K]): unknown;
}

export interface EngineSessionRuntimeOptions {
  engineId: string;
  store: Store;
  clock: Clock;
  /** Ping period. */
  heartbeatMs: number;
  /** Silence (nothing at all received) after which the link counts as lost. */
  heartbeatTimeoutMs: number;
  logger: Logger;
  /** Where the session's events go (the aggregator). */
  events: SessionEventSink;
  /** What the store knew of the engine when the aggregator started. */
  summary?: EngineSummary;
  /** Told about hellos, persisted records and link changes, to reconcile the engine's runs. */
  runs?: SessionRunHooks;
  /** How long a command may wait for the engine's answer. Default 10 000 ms. */
  commandTimeoutMs?: number;
  /** Most items in one records frame; a larger frame closes the link (1008) and stores nothing. */
  maxRecordsPerFrame?: number;
  /** Records per second this engine may have ingested (over that, acknowledgements wait). */
  maxIngestRate?: number;
  /** The wait asked of an engine told `busy`. Default 5000 ms. */
  busyRetryAfterMs?: number;
  /** Receives the session machine's inspection events (Stately inspector). */
  inspect?: (event: InspectionEvent) => void;
  /**
   * Where records frames are committed: the aggregator shares one among its sessions, so that the
   * frames of every engine read in one turn of the event loop share one transaction. Default: one of
   * the session's own.
   */
  groupCommit?: GroupCommit;
}

/**
 * Messages a link may have waiting while its records frames are being committed. An engine keeps a
 * bounded window of unacknowledged frames (8 by default), so an engine that keeps to the protocol
 * never comes near this.
 */
export const MAX_WAITING_MESSAGES = 256;

/**
 * Records frames that may wait for the ingest rate on one link. An engine keeps a bounded window of
 * unacknowledged frames (8 by default), so an engine that keeps to the protocol never reaches this.
 */
export const MAX_QUEUED_FRAMES = 32;

const LINK_OF_STATE = {
  offline: 'offline',
  catchingUp: 'catching-up',
  available: 'available',
  unavailable: 'unavailable',
} as const satisfies Record<string, LinkState>;
type SessionState = keyof typeof LINK_OF_STATE;

/** One accepted transport and what the session knows of it. */
interface Connection {
  readonly transport: AggregatorTransport;
  lastReceivedAt: number;
  /** When an acknowledgement last went out (it feeds the engine's silence watchdog as a ping would). */
  lastAckAt: number;
  /** The epoch named by its hello; undefined until then. */
  epoch: string | undefined;
  watchdog: TimerHandle | undefined;
  /** No longer the engine's link: its events are ignored. */
  ended: boolean;
  /** Records frames received and waiting for the ingest rate, oldest first (not yet stored). */
  queue: RecordsFrame[];
  queueTimer: TimerHandle | undefined;
  /** Records frames handed to the group commit and not yet answered. */
  inFlight: number;
  /**
   * Frames received while records frames are in flight, handled in order once those are answered:
   * the link's answers come in the order of its frames.
   */
  inbox: Inbound[];
  /** A frame of this link failed in the group being committed: its later frames are not stored. */
  poisoned: boolean;
}

/** A frame waiting in a link's inbox: a message, or what was wrong with an unreadable one. */
type Inbound = { message: EngineMessage } | { error: ProtocolError };

/**
 * What a records frame's unit of work returns: what was stored, the refusal of a frame that did not
 * follow on from the high-water mark (nothing of it was written), or nothing when an earlier frame of
 * its link failed in the same group.
 */
type FrameOutcome = (IngestResult & { epoch: string }) | { refused: ProtocolError } | undefined;

/**
 * Whether storing the items can fail after writing (run events drive the run ledger; gaps and thinned
 * samples write beside the records), so that their frame needs a savepoint of its own in the group.
 * Frames of plain samples and states, the bulk of the traffic, do not.
 */
function needsIsolation(items: readonly Item[]): boolean {
  for (let i = 0; i < items.length; i++) {
    const kind = items[i]![0];
    if (kind !== 's' && kind !== 'st') return true;
  }
  return false;
}

/** The message of a protocol error without the code prefix `ProtocolError` adds. */
function plainMessage(error: ProtocolError): string {
  const prefix = `${error.code}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}

/**
 * The aggregator's session with one engine: runs the `engineSession` machine and supplies its effects
 * (welcome, heartbeat, progress), owns the engine's current transport, and turns frames into store
 * commits and acknowledgements. A new connection for the same engine replaces the current one.
 */
export class EngineSessionRuntime {
  readonly engineId: string;
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly heartbeatMs: number;
  private readonly heartbeatTimeoutMs: number;
  private readonly logger: Logger;
  private readonly events: SessionEventSink;
  private readonly actor: Actor<typeof engineSessionMachine>;

  private current: Connection | undefined;
  private pingTimer: TimerHandle | undefined;
  private state: SessionState | undefined;
  private stateSince: number;
  private progressDue = false;
  /** Why the next state change happens, for the engineState event. */
  private pendingReason: string | undefined;
  private epoch: string | null;
  private persistedSeq: number;
  private persistedCount: number;
  private duplicatesIgnored: number;
  private lastSeenAt: number | null;
  /** The engine's gaps, read again from the store only when a frame stored one. */
  private knownGaps: StoredGap[];
  private stopped = false;
  private readonly runs: SessionRunHooks | undefined;
  private readonly commands: PendingCommands;
  private readonly maxRecordsPerFrame: number | undefined;
  /** The engine's ingest rate limit; kept across its connections. */
  private readonly throttle: IngestThrottle | undefined;
  private readonly busyRetryAfterMs: number;
  private readonly groupCommit: GroupCommit;

  constructor(options: EngineSessionRuntimeOptions) {
    this.engineId = options.engineId;
    this.store = options.store;
    this.clock = options.clock;
    this.heartbeatMs = options.heartbeatMs;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs;
    this.logger = options.logger.child({ engineId: options.engineId });
    this.events = options.events;
    const summary = options.summary;
    this.epoch = summary?.epoch ?? null;
    this.persistedSeq = summary?.persistedSeq ?? 0;
    this.persistedCount = summary?.persistedCount ?? 0;
    this.duplicatesIgnored = summary?.duplicatesIgnored ?? 0;
    this.lastSeenAt = summary?.lastSeenAt ?? null;
    this.knownGaps = summary ? this.store.gaps(this.engineId) : [];
    // An engine known from the store has been offline since it was last seen.
    this.stateSince = this.lastSeenAt ?? this.clock.now();

    this.runs = options.runs;
    this.maxRecordsPerFrame = options.maxRecordsPerFrame;
    this.throttle =
      options.maxIngestRate === undefined
        ? undefined
        : new IngestThrottle(options.maxIngestRate, Math.max(1, options.maxIngestRate), this.clock);
    this.busyRetryAfterMs = options.busyRetryAfterMs ?? 5000;
    this.groupCommit = options.groupCommit ?? new GroupCommit(this.store);
    this.commands = new PendingCommands(this.clock, options.commandTimeoutMs ?? 10_000);
    const machine = engineSessionMachine.provide({
      actions: {
        sendWelcome: ({ event }) => {
          if (event.type !== 'HELLO') return;
          this.current?.transport.send({
            type: 'welcome',
            v: PROTOCOL_VERSION,
            ackSeq: event.persistedSeq,
            heartbeatMs: this.heartbeatMs,
          });
        },
        startHeartbeat: () => this.startPinging(),
        stopHeartbeat: () => this.stopPinging(),
        publishProgress: () => {
          this.progressDue = true;
        },
        failPendingCommands: (_, params) => this.commands.failAll(params.reason),
      },
    });
    this.actor = createActor(machine, { inspect: options.inspect });
    this.actor.start();
    this.publish(this.stateSince);
  }

  /** The engine's link as shown to users. */
  get link(): LinkState {
    return LINK_OF_STATE[this.state ?? 'offline'];
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
      this.drop(previous, 'replaced by a new connection', {
        code: closeCodeFor(ErrorCode.Replaced),
        reason: 'replaced by a new connection',
      });
    }
    const now = this.clock.now();
    const connection: Connection = {
      transport,
      lastReceivedAt: now,
      lastAckAt: Number.NEGATIVE_INFINITY,
      epoch: undefined,
      watchdog: undefined,
      ended: false,
      queue: [],
      queueTimer: undefined,
      inFlight: 0,
      inbox: [],
      poisoned: false,
    };
    this.current = connection;
    transport.on('message', (message) => this.onMessage(connection, message));
    transport.on('protocolError', (error) => this.onProtocolError(connection, error));
    transport.on('close', (info) => this.onClose(connection, info));
    this.watch(connection, this.heartbeatTimeoutMs);
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

  view(): EngineView {
    return {
      id: this.engineId,
      link: this.link,
      since: this.stateSince,
      epoch: this.epoch,
      persistedSeq: this.persistedSeq,
      targetSeq: Math.max(this.actor.getSnapshot().context.targetSeq, this.persistedSeq),
      persistedCount: this.persistedCount,
      duplicatesIgnored: this.duplicatesIgnored,
      gaps: this.knownGaps.map((gap) => ({ ...gap })),
      lastSeenAt: this.lastSeenAt,
    };
  }

  /** Closes the link (1001 going away) and stops every timer; the session is done. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const connection = this.current;
    if (connection)
      this.drop(connection, undefined, { code: CloseCode.GoingAway, reason: 'aggregator shutting down' });
    this.stopPinging();
    this.actor.stop();
  }

  // Frames

  private onMessage(connection: Connection, message: EngineMessage): void {
    if (connection.ended) return;
    this.heard(connection);
    // Pongs and command results are answered by nothing on the link: they never wait.
    if (message.type === 'pong') return;
    if (message.type === 'commandResult') {
      if (!this.commands.settle(message))
        this.logger.debug({ commandId: message.id }, 'command result ignored: nobody waits for it');
      return;
    }
    this.receive(connection, { message });
  }

  /** Handles a frame now, or after the link's frames in flight are answered. */
  private receive(connection: Connection, inbound: Inbound): void {
    if (connection.inFlight === 0 && connection.inbox.length === 0) {
      this.handle(connection, inbound);
      return;
    }
    if (connection.inbox.length >= MAX_WAITING_MESSAGES) {
      this.fail(
        connection,
        new ProtocolError(
          ErrorCode.Busy,
          `${MAX_WAITING_MESSAGES} frames are waiting for earlier ones to be stored: wait for ` +
            'acknowledgements before sending more; frames not acknowledged were not stored, send them again',
        ),
        this.busyRetryAfterMs,
      );
      return;
    }
    connection.inbox.push(inbound);
  }

  /** Handles waiting frames in order, until one is in flight again. */
  private handleInbox(connection: Connection): void {
    while (!connection.ended && connection.inFlight === 0 && connection.inbox.length > 0)
      this.handle(connection, connection.inbox.shift()!);
  }

  private handle(connection: Connection, inbound: Inbound): void {
    if ('error' in inbound) {
      // A frame too large is cut off: the peer cannot be followed further. Anything else was one bad frame.
      if (inbound.error.code === ErrorCode.FrameTooLarge) this.fail(connection, inbound.error);
      else this.tell(connection, inbound.error);
      return;
    }
    const message = inbound.message;
    this.guarded(connection, () => {
      switch (message.type) {
        case 'hello':
          this.onHello(connection, message);
          break;
        case 'records':
          this.receiveRecords(connection, message);
          break;
        case 'bye':
          // Frames still waiting for the ingest rate were received before the goodbye: store them now.
          this.drainQueue(connection, true);
          if (connection.ended) break;
          // Answered once the frames before it are: it waits at the head of the inbox.
          if (connection.inFlight > 0) {
            connection.inbox.unshift(inbound);
            break;
          }
          this.send(
            { type: 'GOODBYE' },
            message.reason ? `engine said bye: ${message.reason}` : 'engine said bye',
          );
          this.drop(connection, undefined, { code: CloseCode.Normal, reason: 'bye' });
          break;
      }
    });
  }

  /** Runs `work` for a frame: a protocol error it throws is answered, anything else is an internal error. */
  private guarded(connection: Connection, work: () => void): void {
    try {
      work();
    } catch (error) {
      if (error instanceof ProtocolError) {
        this.fail(connection, error);
        return;
      }
      this.logger.error({ err: error }, 'could not handle a frame');
      this.fail(
        connection,
        new ProtocolError(ErrorCode.Internal, `the aggregator failed: ${(error as Error).message}`),
      );
    }
  }

  private onHello(connection: Connection, hello: Hello): void {
    if (connection.epoch !== undefined) {
      this.tell(
        connection,
        new ProtocolError(ErrorCode.InvalidMessage, 'hello was already received on this link'),
      );
      return;
    }
    if (hello.v !== PROTOCOL_VERSION) {
      this.fail(
        connection,
        new ProtocolError(
          ErrorCode.UnsupportedVersion,
          `protocol version ${hello.v} is not supported; this aggregator speaks version ${PROTOCOL_VERSION}`,
        ),
      );
      return;
    }
    if (hello.engineId !== this.engineId) {
      this.fail(
        connection,
        new ProtocolError(
          ErrorCode.EngineMismatch,
          `hello names engine ${hello.engineId}, but this link was authorised for engine ${this.engineId}`,
        ),
      );
      return;
    }
    const now = this.clock.now();
    this.store.touchEngine(this.engineId, hello.epoch, now);
    const persistedSeq = this.store.highWaterMark(this.engineId, hello.epoch);
    if (hello.lastSeq < persistedSeq)
      this.logger.warn(
        { epoch: hello.epoch, lastSeq: hello.lastSeq, persistedSeq },
        'engine claims fewer records than are persisted for its epoch',
      );
    if (this.epoch !== null && this.epoch !== hello.epoch)
      this.logger.info({ epoch: hello.epoch, previous: this.epoch }, 'engine started a new epoch');
    connection.epoch = hello.epoch;
    this.epoch = hello.epoch;
    this.persistedSeq = persistedSeq;
    // Runs first learn what the engine says it runs; the HELLO may already make the engine available.
    this.runs?.hello(this.engineId, hello.epoch, hello.lastSeq, hello.snapshot);
    this.send({ type: 'HELLO', lastSeq: hello.lastSeq, persistedSeq });
  }

  /**
   * A records frame, checked against the limits: too many items closes the link (1008) and stores
   * nothing; over the ingest rate the frame waits (and so does its acknowledgement, which slows the
   * engine down through its bounded window); a link that piles up more than MAX_QUEUED_FRAMES waiting
   * frames is told `busy` and closed (1013), and the waiting frames, never acknowledged, come again.
   */
  private receiveRecords(connection: Connection, frame: RecordsFrame): void {
    const max = this.maxRecordsPerFrame;
    if (max !== undefined && frame.items.length > max) {
      this.fail(
        connection,
        new ProtocolError(
          ErrorCode.TooManyRecords,
          `records frame of ${frame.items.length} items exceeds the limit of ${max} per frame; ` +
            'nothing of it was stored: send at most that many items per frame',
        ),
      );
      return;
    }
    const throttle = this.throttle;
    if (!throttle || (connection.queue.length === 0 && throttle.waitMs() === 0)) {
      throttle?.take(frame.items.length);
      this.onRecords(connection, frame);
      return;
    }
    if (connection.queue.length >= MAX_QUEUED_FRAMES) {
      this.fail(
        connection,
        new ProtocolError(
          ErrorCode.Busy,
          `over the ingest rate of ${throttle.ratePerSecond} records/s with ${MAX_QUEUED_FRAMES} frames ` +
            'already waiting: wait for acknowledgements before sending more; the waiting frames were not ' +
            'stored, send them again',
        ),
        this.busyRetryAfterMs,
      );
      return;
    }
    if (connection.queue.length === 0)
      this.logger.debug({ rate: throttle.ratePerSecond }, 'over the ingest rate: acknowledgements wait');
    connection.queue.push(frame);
    this.scheduleQueue(connection);
  }

  private scheduleQueue(connection: Connection): void {
    if (connection.queueTimer || connection.ended || !this.throttle) return;
    connection.queueTimer = this.clock.setTimeout(() => {
      connection.queueTimer = undefined;
      this.drainQueue(connection, false);
    }, this.throttle.waitMs());
  }

  /** Stores waiting frames in order, as the rate allows (or all of them, `ignoreRate`). */
  private drainQueue(connection: Connection, ignoreRate: boolean): void {
    const throttle = this.throttle;
    if (!throttle) return;
    while (!connection.ended && connection.queue.length > 0 && (ignoreRate || throttle.waitMs() === 0)) {
      const frame = connection.queue.shift()!;
      throttle.take(frame.items.length);
      this.guarded(connection, () => this.onRecords(connection, frame));
    }
    if (!connection.ended && connection.queue.length > 0) this.scheduleQueue(connection);
  }

  private onRecords(connection: Connection, frame: RecordsFrame): void {
    if (connection.epoch === undefined) {
      this.tell(
        connection,
        new ProtocolError(ErrorCode.NotReady, 'records before hello: say hello first, then send records'),
      );
      return;
    }
    const epoch = connection.epoch;
    connection.inFlight++;
    this.groupCommit.add<FrameOutcome>({
      isolated: needsIsolation(frame.items),
      work: () => this.storeFrame(connection, epoch, frame),
      committed: (outcome) => this.frameCommitted(connection, outcome),
      failed: (error) => this.frameFailed(connection, epoch, error),
    });
  }

  /**
   * Stores a frame inside the group's transaction, with the run states it justifies. A frame received
   * before its link broke is still stored (it came whole; the engine, never told, sends it again and
   * the copy counts as a duplicate). The frames after one that failed are not: the link is closed on
   * that failure, and what it never answered comes again.
   */
  private storeFrame(connection: Connection, epoch: string, frame: RecordsFrame): FrameOutcome {
    if (connection.poisoned) return undefined;
    const current = epoch === this.epoch;
    const markBefore = current ? this.persistedSeq : this.store.highWaterMark(this.engineId, epoch);
    let result: IngestResult;
    try {
      result = this.store.ingest(this.engineId, epoch, frame.from, frame.items);
    } catch (error) {
      connection.poisoned = true;
      // A sequence gap is refused before anything is written: the rest of the group goes on.
      if (error instanceof ProtocolError && error.code === ErrorCode.SequenceGap) return { refused: error };
      throw error;
    }
    try {
      const linkUp = connection === this.current && !connection.ended;
      this.runs?.recordsPersisted(this.engineId, epoch, frame.from, frame.items, markBefore, linkUp);
    } catch (error) {
      connection.poisoned = true;
      throw error;
    }
    // The next frame of the group is checked against this one.
    if (current) this.persistedSeq = result.persistedSeq;
    return { ...result, epoch };
  }

  private frameCommitted(connection: Connection, outcome: FrameOutcome): void {
    if (outcome && 'refused' in outcome) {
      this.frameFailed(connection, undefined, outcome.refused);
      return;
    }
    connection.inFlight--;
    if (outcome) {
      if (!connection.ended) {
        connection.transport.send({ type: 'ack', seq: outcome.persistedSeq });
        connection.lastAckAt = this.clock.now();
      }
      this.persistedCount += outcome.inserted;
      this.duplicatesIgnored += outcome.duplicates;
      if (outcome.gaps > 0) this.knownGaps = this.store.gaps(this.engineId);
      // A frame of an epoch the engine has left (its link was replaced by a restarted engine's) moves
      // nothing the session shows.
      if (outcome.epoch === this.epoch) {
        this.events.emit('persisted', {
          engineId: this.engineId,
          seq: outcome.persistedSeq,
          inserted: outcome.inserted,
        });
        // Only catch-up listens for commits (see the machine): no event per frame once available.
        if (this.state === 'catchingUp') this.send({ type: 'PERSISTED', seq: outcome.persistedSeq });
      }
    }
    this.afterAnswer(connection);
  }

  /** `epoch`: the failure may have taken back what the group stored of it (undefined: nothing written). */
  private frameFailed(connection: Connection, epoch: string | undefined, error: unknown): void {
    connection.inFlight--;
    connection.poisoned = false;
    // What the store holds is the truth again: a failed group may have taken back earlier frames too.
    if (epoch !== undefined && epoch === this.epoch) {
      try {
        this.persistedSeq = this.store.highWaterMark(this.engineId, epoch);
      } catch (readError) {
        this.logger.error({ err: readError }, 'could not read the high-water mark again');
      }
    }
    if (!connection.ended)
      this.guarded(connection, () => {
        throw error;
      });
    this.afterAnswer(connection);
  }

  /** Once nothing of the link is in flight, the frames that waited behind it are handled. */
  private afterAnswer(connection: Connection): void {
    if (connection.inFlight === 0) this.handleInbox(connection);
  }

  private onProtocolError(connection: Connection, error: ProtocolError): void {
    if (connection.ended) return;
    this.heard(connection);
    this.receive(connection, { error });
  }

  private onClose(connection: Connection, info: CloseInfo): void {
    if (connection.ended) return;
    this.drop(connection, `link closed (${info.code}${info.reason ? ` ${info.reason}` : ''})`);
  }

  // Answers

  /** Tells the engine what was wrong with one frame; the link stays open. */
  private tell(connection: Connection, error: ProtocolError, retryAfterMs?: number): void {
    this.report(error);
    connection.transport.send(
      retryAfterMs === undefined
        ? { type: 'error', code: error.code, message: plainMessage(error) }
        : { type: 'error', code: error.code, message: plainMessage(error), retryAfterMs },
    );
  }

  /** Tells the engine what was wrong and closes the link with the matching close code. */
  private fail(connection: Connection, error: ProtocolError, retryAfterMs?: number): void {
    this.tell(connection, error, retryAfterMs);
    this.drop(connection, `closed after ${error.code}`, {
      code: closeCodeFor(error.code),
      reason: plainMessage(error).slice(0, 120),
    });
  }

  private report(error: ProtocolError): void {
    this.logger.warn({ code: error.code }, plainMessage(error));
    this.events.emit('protocolError', {
      engineId: this.engineId,
      code: error.code,
      message: plainMessage(error),
    });
  }

  // Connection lifetime

  private heard(connection: Connection): void {
    const now = this.clock.now();
    connection.lastReceivedAt = now;
    this.lastSeenAt = now;
  }

  /**
   * Ends a connection as the engine's link: `lostReason` is told to the machine (when it was the current
   * link and did not end in a goodbye), then the transport is closed with `close` when given.
   */
  private drop(
    connection: Connection,
    lostReason: string | undefined,
    close?: { code: number; reason: string },
  ): void {
    if (connection.ended) return;
    connection.ended = true;
    connection.watchdog?.cancel();
    // Frames still waiting for the ingest rate were never acknowledged: the engine sends them again.
    connection.queueTimer?.cancel();
    connection.queueTimer = undefined;
    connection.queue.length = 0;
    // So are frames waiting behind frames in flight.
    connection.inbox.length = 0;
    if (connection === this.current) {
      // Pings stop as the machine leaves catching-up or available (stopHeartbeat), on LINK_LOST below or
      // the GOODBYE before this; the ping timer also skips a tick without a current link.
      this.current = undefined;
      if (connection.epoch !== undefined && this.lastSeenAt !== null) {
        try {
          this.store.touchEngine(this.engineId, connection.epoch, this.lastSeenAt);
        } catch (error) {
          this.logger.error({ err: error }, 'could not record when the engine was last seen');
        }
      }
      if (lostReason !== undefined) this.send({ type: 'LINK_LOST', reason: lostReason }, lostReason);
    }
    if (close) connection.transport.close(close.code, close.reason);
  }

  /** Watches for silence: nothing at all received for `heartbeatTimeoutMs` ends the link. */
  private watch(connection: Connection, delayMs: number): void {
    const watchdog = this.clock.setTimeout(() => {
      // Decide only after the socket reads that a stalled event loop queued behind this timer have
      // landed: a busy aggregator must not declare live engines dead.
      setImmediate(() => this.checkSilence(connection, watchdog));
    }, delayMs);
    connection.watchdog = watchdog;
  }

  private checkSilence(connection: Connection, watchdog: TimerHandle): void {
    if (connection.ended || connection.watchdog !== watchdog) return;
    const silentMs = this.clock.now() - connection.lastReceivedAt;
    if (silentMs < this.heartbeatTimeoutMs) {
      this.watch(connection, this.heartbeatTimeoutMs - silentMs);
      return;
    }
    this.logger.warn({ silentMs }, 'heartbeat timeout: the link is lost');
    // The transports terminate on this code: a half-open peer cannot complete a close handshake.
    this.drop(connection, 'heartbeat timeout', {
      code: CloseCode.HeartbeatTimeout,
      reason: 'heartbeat timeout',
    });
  }

  /**
   * Pings every heartbeatMs, except while acknowledgements flow: an engine that was acknowledged within
   * the last half period hears the aggregator anyway (at a thousand engines this saves a ping and a
   * pong per engine and second). The engine is never left silent for more than 1.5 periods.
   */
  private startPinging(): void {
    if (this.pingTimer) return;
    const tick = () => {
      this.pingTimer = this.clock.setTimeout(tick, this.heartbeatMs);
      const connection = this.current;
      const now = this.clock.now();
      if (!connection || now - connection.lastAckAt < this.heartbeatMs / 2) return;
      connection.transport.send({ type: 'ping', t: now });
    };
    this.pingTimer = this.clock.setTimeout(tick, this.heartbeatMs);
  }

  private stopPinging(): void {
    this.pingTimer?.cancel();
    this.pingTimer = undefined;
  }

  // Machine

  private send(event: EngineSessionEvent, reason?: string): void {
    this.pendingReason = reason;
    this.actor.send(event);
    this.publish(this.clock.now());
  }

  /** Tells listeners what the last event changed: the link state, and catch-up progress when asked. */
  private publish(now: number): void {
    const snapshot = this.actor.getSnapshot();
    const state = snapshot.value as SessionState;
    if (state !== this.state) {
      const was = this.state;
      this.state = state;
      if (state === 'available') this.runs?.caughtUp(this.engineId);
      else if (
        (state === 'unavailable' || state === 'offline') &&
        (was === 'available' || was === 'catchingUp')
      )
        this.runs?.linkLost(this.engineId);
      this.stateSince = now;
      const event: EngineSessionEvents['engineState'][0] = {
        engineId: this.engineId,
        link: LINK_OF_STATE[state],
        since: now,
      };
      if (this.pendingReason !== undefined && state !== 'catchingUp' && state !== 'available')
        event.reason = this.pendingReason;
      this.events.emit('engineState', event);
    }
    this.pendingReason = undefined;
    if (this.progressDue) {
      this.progressDue = false;
      this.events.emit('progress', {
        engineId: this.engineId,
        persistedSeq: this.persistedSeq,
        targetSeq: Math.max(snapshot.context.targetSeq, this.persistedSeq),
      });
    }
  }
}
