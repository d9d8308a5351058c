import { EventEmitter } from 'eventemitter3';
import { type Actor, createActor } from 'xstate';
import { type EngineLinkEvent, engineLinkMachine } from '../../machines/engineLink.ts';
import { stateName } from '../../machines/stateName.ts';
import { DEFAULT_MAX_FRAME_BYTES, encodeRecordsFrame } from '../protocol/codec.ts';
import { CloseCode, ErrorCode, ProtocolError } from '../protocol/errors.ts';
import { type AggregatorMessage, PROTOCOL_VERSION } from '../protocol/messages.ts';
import { type EngineRecord, encodeGap, encodeRecord, InvalidRecordError } from '../protocol/records.ts';
import { type Clock, systemClock, type TimerHandle } from '../time/clock.ts';
import { checkDuration } from '../time/timerBounds.ts';
import type { EngineTransport } from '../transport/sides.ts';
import type { CloseInfo } from '../transport/transport.ts';
import { retryDelay } from './backoff.ts';
import { type CommandHandler, CommandLog } from './commands.ts';
import type { EngineDispatcher } from './dispatcher.ts';
import { DurableOutbox } from './durableOutbox.ts';
import { MemoryOutbox } from './memoryOutbox.ts';
import { OfflineSampler } from './offlineSampler.ts';
import { OfflineWatch } from './offlineWatch.ts';
import type { Outbox } from './outbox.ts';
import { holdProcess } from './processHold.ts';
import {
  AuthRejectedError,
  checkDispatcherOptions,
  DEFAULT_REJECTED_RETRY_MS,
  type DispatcherStats,
  type LinkState,
  type ResilientDispatcherEvents,
  type ResilientDispatcherOptions,
} from './resilientDispatcherOptions.ts';

/** Refusals of the upgrade that a quick retry cannot change: the engine's token, or its id. */
const REJECTING_STATUSES = new Set([400, 401, 403, 404]);

export type {
  DispatcherStats,
  LinkState,
  OfflineInfo,
  ResilientDispatcherEvents,
  ResilientDispatcherOptions,
} from './resilientDispatcherOptions.ts';
export { AuthRejectedError };

/**
 * The resilient dispatcher: the engine's `EngineDispatcher`, kept working through outages.
 *
 * `send()` stamps a sequence number, stores the record in the outbox and returns. The `engineLink`
 * machine decides when to connect, retry, flush and stop; this class carries out its actions. Records
 * leave the outbox in sequence order, pipelined (up to `windowFrames` frames unacknowledged), and are
 * forgotten only when the aggregator acknowledges them as persisted. After a reconnect the aggregator's
 * welcome says what it has; everything after that is sent again.
 *
 * An open dispatcher keeps the Node.js process alive, whatever its link does (down, retrying, refused),
 * as an MQTT.js or Socket.IO client does: `close()` releases it.
 */
export class ResilientDispatcher extends EventEmitter<ResilientDispatcherEvents> implements EngineDispatcher {
  readonly engineId: string;
  readonly outbox: Outbox;
  /** Thins samples while the link is down, when `offlineSampleIntervalMs` is set. */
  readonly offlineSampler: OfflineSampler | undefined;
  private readonly options: ResilientDispatcherOptions;
  private readonly clock: Clock;
  private readonly actor: Actor<typeof engineLinkMachine>;
  private readonly heartbeatTimeoutMs: number;
  private readonly windowFrames: number;
  private readonly maxItemBytes: number;
  private readonly rejectedRetryMs: number;
  /** Watches outages against `maxOfflineMs`, when set. */
  private readonly offlineWatch: OfflineWatch | undefined;
  /** Releases the hold on the process (see holdProcess), once closed. */
  private releaseProcess: (() => void) | undefined;

  private transport: EngineTransport | undefined;
  private produced = 0;
  /** Highest sequence number handed to the current transport. */
  private sentSeq = 0;
  /** Upper sequence number of each frame in flight, oldest first. */
  private inFlight: number[] = [];
  private flushFrom = 0;
  private flushTarget = 0;
  private effectiveHeartbeatMs: number;
  private lastHeardAt = 0;
  private pumpQueued = false;
  /** A wait the aggregator asked for in an error frame, told to the machine when the link closes. */
  private askedRetryAfterMs: number | undefined;
  /** Why the link last went down or failed to come up, told with each retry. */
  private lastFailure = 'not connected yet';
  /** The last sequence number told in the hello of the current link. */
  private helloLastSeq = 0;
  /** The aggregator's last refusal of the upgrade that put the link in `rejected`. */
  private rejection = { status: 0, detail: '' };
  /** True between entering and leaving `flushing`/`connected`: records may leave the outbox. */
  private linkUp = false;
  private backlogQueued = false;
  private currentState: LinkState = 'connecting.opening';
  private readonly timers: Record<'connect' | 'retry' | 'heartbeat', TimerHandle | undefined> = {
    connect: undefined,
    retry: undefined,
    heartbeat: undefined,
  };
  private readonly stoppedWaiters: Array<() => void> = [];
  private commandHandler: CommandHandler | undefined;
  private readonly commandLog = new CommandLog();
  private readonly drainWaiters: Array<() => void> = [];

  constructor(options: ResilientDispatcherOptions) {
    super();
    checkDispatcherOptions(options);
    this.options = options;
    this.engineId = options.engineId;
    this.clock = options.clock ?? systemClock;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 2500;
    this.effectiveHeartbeatMs = this.heartbeatTimeoutMs;
    this.windowFrames = options.windowFrames ?? 8;
    this.maxItemBytes = (options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES) - 128;
    this.rejectedRetryMs = options.rejectedRetryMs ?? DEFAULT_REJECTED_RETRY_MS;
    const outbox = options.outbox;
    this.outbox =
      outbox && 'append' in outbox
        ? outbox
        : outbox && 'path' in outbox
          ? new DurableOutbox({ clock: this.clock, engineId: options.engineId, ...outbox })
          : new MemoryOutbox(outbox);
    this.offlineSampler = options.offlineSampleIntervalMs
      ? new OfflineSampler({
          intervalMs: options.offlineSampleIntervalMs,
          clock: this.clock,
          emit: (item) => this.outbox.append(item, 'sample'),
        })
      : undefined;
    this.outbox.on('gap', (gap) => this.emit('gap', gap));
    this.outbox.on('backpressure', (info) => this.emit('backpressure', info));
    this.commandHandler = options.onCommand;
    this.offlineWatch = options.maxOfflineMs
      ? new OfflineWatch({
          limitMs: options.maxOfflineMs,
          clock: this.clock,
          onTooLong: (info) => this.emit('offlineTooLong', info),
          onOnlineAgain: (info) => this.emit('onlineAgain', info),
          inspect: options.inspect,
        })
      : undefined;
    this.actor = createActor(this.linkMachine(), { inspect: options.inspect });
    this.actor.subscribe((snapshot) => {
      const state = stateName(snapshot.value) as LinkState;
      if (state === this.currentState) return;
      const wasUp = isUp(this.currentState);
      this.currentState = state;
      if (isUp(state) !== wasUp) {
        if (wasUp) this.offlineWatch?.linkDown();
        else this.offlineWatch?.linkUp();
      }
      this.emit('state', state);
      this.queueBacklogEvent();
    });
    this.releaseProcess = holdProcess();
    this.actor.start();
  }

  /** The link machine's current state, as a dotted path ('buffering.waiting'). */
  get state(): LinkState {
    return this.currentState;
  }

  get stats(): DispatcherStats {
    return {
      engineId: this.engineId,
      epoch: this.outbox.epoch,
      produced: this.produced,
      lastSeq: this.outbox.lastSeq,
      acked: this.outbox.ackedSeq,
      dropped: this.outbox.dropped,
      coalesced: this.outbox.coalesced,
      backlog: this.outbox.lastSeq - this.outbox.ackedSeq,
    };
  }

  send(record: EngineRecord): void {
    if (this.currentState === 'stopped') throw new Error(`dispatcher for ${this.engineId} is closed`);
    const now = this.clock.now();
    const item = encodeRecord(record, now);
    if (item.length > this.maxItemBytes)
      throw new InvalidRecordError(
        `record of ${item.length} bytes exceeds the frame limit of ${this.maxItemBytes}`,
      );
    if (this.offlineSampler && !this.linkUp && record.kind === 'sample') {
      this.offlineSampler.offer({ ...record, t: record.t ?? now }, item);
      this.produced++;
      this.queueBacklogEvent();
      return;
    }
    this.outbox.append(item, record.kind, record.kind === 'state' ? record.key : undefined);
    this.produced++;
    if (this.linkUp) {
      if (this.pumpQueued) return;
      this.pumpQueued = true;
      setImmediate(this.pumpSoon);
    } else this.queueBacklogEvent();
  }

  /** Sets what runs the aggregator's commands. Each command id runs at most once; repeats get its answer. */
  handleCommands(handler: CommandHandler): void {
    this.commandHandler = handler;
  }

  /** Tries to connect now (while rejected, or to skip the current retry wait). */
  reconnect(): void {
    this.actor.send({ type: 'RECONNECT' });
  }

  /** Resolves when every record accepted so far is acknowledged, or after `timeoutMs`; true when drained. */
  drain(timeoutMs: number): Promise<boolean> {
    checkDuration('drain timeoutMs', timeoutMs);
    if (this.isDrained()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        const i = this.drainWaiters.indexOf(done);
        if (i >= 0) this.drainWaiters.splice(i, 1);
        resolve(this.isDrained());
      }, timeoutMs);
      const done = () => {
        timer.cancel();
        resolve(true);
      };
      this.drainWaiters.push(done);
    });
  }

  /** Waits up to `drainTimeoutMs` (default 0) for the outbox to drain, then says goodbye and stops. */
  async close(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    checkDuration('drainTimeoutMs', options.drainTimeoutMs);
    if (this.currentState === 'stopped') return;
    if (options.drainTimeoutMs) await this.drain(options.drainTimeoutMs);
    const stopped = new Promise<void>((resolve) => this.stoppedWaiters.push(resolve));
    this.actor.send({ type: 'STOP' });
    await stopped;
    this.offlineSampler?.flush();
    await this.outbox.close();
  }

  private isDrained(): boolean {
    return this.outbox.ackedSeq >= this.outbox.lastSeq;
  }

  private dispatch(event: EngineLinkEvent): void {
    this.actor.send(event);
  }

  private linkMachine() {
    return engineLinkMachine.provide({
      actions: {
        openSocket: () => this.openSocket(),
        armConnectTimer: () => {
          this.timers.connect = this.clock.setTimeout(() => {
            this.lastFailure = `no answer within ${this.options.connectTimeoutMs ?? 5000} ms`;
            this.dispatch({ type: 'CONNECT_TIMEOUT' });
          }, this.options.connectTimeoutMs ?? 5000);
        },
        cancelConnectTimer: () => this.cancelTimer('connect'),
        sendHello: () => {
          this.helloLastSeq = this.outbox.lastSeq;
          this.transport?.send({
            type: 'hello',
            v: PROTOCOL_VERSION,
            engineId: this.engineId,
            epoch: this.outbox.epoch,
            lastSeq: this.outbox.lastSeq,
            firstSeq: this.outbox.ackedSeq + 1,
            snapshot: this.options.snapshot?.(),
          });
        },
        abandonSocket: () => this.dropTransport(CloseCode.HeartbeatTimeout, 'abandoned'),
        scheduleRetry: (_, { attempt, retryAfterMs }) => {
          const delayMs = retryDelay(attempt, this.options.retry, this.options.random, retryAfterMs);
          this.emit('retry', { attempt: attempt + 1, delayMs, reason: this.lastFailure });
          this.timers.retry = this.clock.setTimeout(() => this.dispatch({ type: 'RETRY_DUE' }), delayMs);
        },
        cancelRetry: () => this.cancelTimer('retry'),
        startFlush: () => {
          this.flushFrom = this.outbox.ackedSeq;
          this.flushTarget = this.outbox.lastSeq;
          this.emit('flushProgress', { sent: 0, total: this.flushTarget - this.flushFrom });
          this.pump();
        },
        armHeartbeat: () => {
          // Thinned windows go first: they precede anything sent live from now on.
          this.offlineSampler?.flush();
          this.linkUp = true;
          this.lastHeardAt = this.clock.now();
          this.watchHeartbeat();
          this.pump();
        },
        disarmHeartbeat: () => {
          this.linkUp = false;
          this.cancelTimer('heartbeat');
        },
        reportRejected: (_, { message }) => {
          const { status, detail } = this.rejection;
          const seconds = Math.round(this.rejectedRetryMs / 100) / 10;
          this.emit(
            'error',
            new AuthRejectedError(
              `aggregator refused engine ${this.engineId}: ${message}. Records are kept; trying again in ` +
                `${seconds} s (fix the ${status === 400 || status === 404 ? 'engine id or URL' : 'token'}, ` +
                'or call reconnect() to try at once).',
              status,
              detail,
              this.rejectedRetryMs,
            ),
          );
        },
        scheduleRejectedRetry: () => {
          this.timers.retry = this.clock.setTimeout(
            () => this.dispatch({ type: 'RETRY_DUE' }),
            this.rejectedRetryMs,
          );
        },
        closeLink: () => {
          for (const name of ['connect', 'retry', 'heartbeat'] as const) this.cancelTimer(name);
          if (this.transport?.state === 'open')
            this.transport.send({ type: 'bye', reason: 'engine stopping' });
          this.dropTransport(CloseCode.Normal, 'engine stopping');
          this.offlineWatch?.stop();
          this.releaseProcess?.();
          this.releaseProcess = undefined;
          for (const resolve of this.stoppedWaiters.splice(0)) resolve();
        },
      },
    });
  }

  private openSocket(): void {
    this.dropTransport(CloseCode.Normal, 'reconnecting');
    const transport = this.options.connector.connect({ engineId: this.engineId, token: this.options.token });
    this.transport = transport;
    transport.on('open', () => {
      if (this.transport === transport) this.dispatch({ type: 'SOCKET_OPENED' });
    });
    transport.on('message', (message) => {
      if (this.transport === transport) this.receive(message);
    });
    transport.on('protocolError', (error) => {
      if (this.transport !== transport) return;
      this.emit('error', error);
      // An aggregator frame corrupted on the way was not used (an ack is never believed). Ignoring it
      // could stall the link, though: it may have been the last ack of a burst, or the welcome. Start over;
      // the next welcome says what really is persisted. (A frame with a valid checksum that this engine
      // cannot read, from a newer aggregator, say, is skipped as before.)
      if (error.code === ErrorCode.BadChecksum)
        transport.close(CloseCode.ProtocolError, 'a frame from the aggregator was corrupted on the way');
    });
    transport.on('close', (info) => {
      if (this.transport === transport) this.lost(info);
    });
  }

  private lost(info: CloseInfo): void {
    this.transport = undefined;
    this.inFlight = [];
    const status = info.refused?.status;
    if (status !== undefined && REJECTING_STATUSES.has(status)) {
      const detail = info.refused?.message ?? '';
      this.rejection = { status, detail };
      this.lastFailure = `refused (${status}): ${detail}`;
      this.dispatch({ type: 'REJECTED', message: `${status} ${detail}`.trim() });
      return;
    }
    this.lastFailure = info.refused
      ? `refused${info.refused.status ? ` (${info.refused.status})` : ''}: ${info.refused.message}`
      : `closed (${info.code}${info.reason ? ` ${info.reason}` : ''})`;
    const retryAfterMs = info.refused?.retryAfterMs ?? this.askedRetryAfterMs;
    this.askedRetryAfterMs = undefined;
    this.dispatch({ type: 'SOCKET_CLOSED', retryAfterMs });
  }

  private dropTransport(code: number, reason: string): void {
    this.askedRetryAfterMs = undefined;
    const transport = this.transport;
    this.transport = undefined;
    this.inFlight = [];
    if (!transport) return;
    transport.removeAllListeners();
    transport.close(code, reason);
  }

  private receive(message: AggregatorMessage): void {
    this.lastHeardAt = this.clock.now();
    switch (message.type) {
      case 'welcome': {
        if (message.ackSeq > this.helloLastSeq) this.numberPast(message.ackSeq);
        // Everything up to ackSeq is persisted; resend everything after it.
        this.outbox.acknowledge(message.ackSeq);
        this.sentSeq = message.ackSeq;
        this.inFlight = [];
        this.effectiveHeartbeatMs = Math.max(this.heartbeatTimeoutMs, message.heartbeatMs * 2);
        this.dispatch({ type: 'WELCOME', backlog: Math.max(0, this.outbox.lastSeq - message.ackSeq) });
        this.settleAcks();
        break;
      }
      case 'ack': {
        if (message.seq > this.sentSeq) {
          // Nothing past sentSeq was sent on this link: believing this ack could forget unpersisted
          // records. Drop the link; the next welcome says what really is persisted.
          this.emit(
            'error',
            new ProtocolError(
              ErrorCode.InvalidMessage,
              `aggregator acknowledged ${message.seq}, beyond the last record sent (${this.sentSeq}); reconnecting`,
            ),
          );
          this.transport?.close(CloseCode.ProtocolError, 'acknowledgement beyond what was sent');
          break;
        }
        this.outbox.acknowledge(message.seq);
        while (this.inFlight.length > 0 && this.inFlight[0]! <= message.seq) this.inFlight.shift();
        this.settleAcks();
        this.pump();
        break;
      }
      case 'ping':
        this.transport?.send({ type: 'pong', t: message.t });
        break;
      case 'error':
        if (message.retryAfterMs !== undefined) this.askedRetryAfterMs = message.retryAfterMs;
        this.emit('error', new ProtocolError(message.code as never, `aggregator: ${message.message}`));
        if (message.code === ErrorCode.BadChecksum) {
          // A frame of ours reached the aggregator corrupted and nothing of it was stored. The frames
          // sent after it would be refused as a sequence gap, and if it was the last one its records
          // would wait for an ack that never comes: reconnect, and send again what the welcome lacks.
          this.transport?.close(CloseCode.ProtocolError, 'a frame was corrupted on the way: sending again');
        }
        break;
      case 'command': {
        const { id, name, args } = message;
        // The answer goes out on whatever link is up when the command finishes.
        void this.commandLog
          .run({ id, name, args }, this.commandHandler)
          .then((answer) => this.transport?.send({ type: 'commandResult', id, ...answer }));
        break;
      }
    }
  }

  /**
   * The welcome acknowledges more than this engine had numbered when it said hello: the aggregator holds
   * records of this epoch it never had (a durable outbox restored from an older copy). Numbering the next
   * records from there would have them taken for records the aggregator already holds, and ignored: the
   * numbers up to `ackSeq` are skipped with a gap item (acknowledged at once, they are the aggregator's).
   * Records numbered since the hello within that range cannot be told apart from the aggregator's: said.
   */
  private numberPast(ackSeq: number): void {
    const lastSeq = this.outbox.lastSeq;
    const taken = Math.min(lastSeq, ackSeq);
    this.emit(
      'error',
      new ProtocolError(
        ErrorCode.InvalidMessage,
        `the aggregator already holds records up to ${ackSeq} of epoch ${this.outbox.epoch}, beyond this ` +
          `engine's last (${this.helloLastSeq}): was its outbox restored from an older copy? New records are ` +
          `numbered after ${ackSeq}` +
          (taken > this.helloLastSeq
            ? `; records ${this.helloLastSeq + 1}..${taken}, numbered meanwhile, were taken for the aggregator's`
            : ''),
      ),
    );
    if (ackSeq > lastSeq) this.outbox.appendGap(lastSeq + 1, ackSeq, 0, 'renumbered');
  }

  /** After the acknowledged sequence moved: progress, end of flush, drain waiters. */
  private settleAcks(): void {
    if (this.currentState === 'flushing') {
      const total = this.flushTarget - this.flushFrom;
      const sent = Math.min(total, this.outbox.ackedSeq - this.flushFrom);
      this.emit('flushProgress', { sent, total });
      if (this.outbox.ackedSeq >= this.flushTarget) this.dispatch({ type: 'BACKLOG_DRAINED' });
    }
    this.queueBacklogEvent();
    if (this.isDrained()) for (const done of this.drainWaiters.splice(0)) done();
  }

  private readonly pumpSoon = (): void => {
    this.pumpQueued = false;
    this.pump();
  };

  /** Sends batches after `sentSeq` while the window has room. Only while flushing or connected. */
  private pump(): void {
    const transport = this.transport;
    if (!this.linkUp || !transport || transport.state !== 'open') return;
    // The aggregator may hold less than we were told was acknowledged (a restored store): say so.
    const firstHeld = this.outbox.ackedSeq + 1;
    if (this.sentSeq + 1 < firstHeld) {
      const from = this.sentSeq + 1;
      transport.sendText(encodeRecordsFrame(from, encodeGap(from, firstHeld - 1, 0, 'acknowledged-lost')));
      this.sentSeq = firstHeld - 1;
      this.inFlight.push(this.sentSeq);
    }
    while (this.inFlight.length < this.windowFrames) {
      const batch = this.outbox.nextBatch(this.sentSeq);
      if (!batch) break;
      transport.sendText(encodeRecordsFrame(batch.from, batch.text));
      this.sentSeq = batch.to;
      this.inFlight.push(batch.to);
    }
  }

  private watchHeartbeat(): void {
    const due = this.lastHeardAt + this.effectiveHeartbeatMs - this.clock.now();
    const timer = this.clock.setTimeout(
      // Decide only after socket reads queued behind a stalled event loop have landed.
      () =>
        setImmediate(() => {
          if (this.timers.heartbeat !== timer) return;
          if (this.clock.now() - this.lastHeardAt >= this.effectiveHeartbeatMs) {
            this.lastFailure = `nothing heard for ${this.effectiveHeartbeatMs} ms (dead or half-open link)`;
            this.dispatch({ type: 'HEARTBEAT_MISSED' });
          } else this.watchHeartbeat();
        }),
      Math.max(0, due),
    );
    this.timers.heartbeat = timer;
  }

  private cancelTimer(name: 'connect' | 'retry' | 'heartbeat'): void {
    this.timers[name]?.cancel();
    this.timers[name] = undefined;
  }

  private queueBacklogEvent(): void {
    if (this.backlogQueued) return;
    this.backlogQueued = true;
    this.clock.setTimeout(() => {
      this.backlogQueued = false;
      this.emit('backlog', { records: this.outbox.records, bytes: this.outbox.bytes });
    }, this.options.backlogEventMs ?? 250);
  }
}

/** The link carries records in these states. */
function isUp(state: LinkState): boolean {
  return state === 'flushing' || state === 'connected';
}
