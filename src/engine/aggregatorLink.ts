import type { EventEmitter } from 'eventemitter3';
import { engineLinkMachine } from '../../machines/engineLink.ts';
import { CloseCode, ErrorCode, ProtocolError } from '../protocol/errors.ts';
import { type AggregatorMessage, PROTOCOL_VERSION } from '../protocol/messages.ts';
import { MachineRuntime } from '../runtime/machineRuntime.ts';
import type { Clock } from '../time/clock.ts';
import { SilenceWatchdog } from '../time/silenceWatchdog.ts';
import type { EngineTransport } from '../transport/sides.ts';
import type { CloseInfo } from '../transport/transport.ts';
import { retryDelay } from './backoff.ts';
import { type CommandHandler, CommandLog } from './commands.ts';
import { ENGINE_DEFAULTS } from './engineDefaults.ts';
import type { Outbox } from './outbox/outbox.ts';
import {
  AuthRejectedError,
  type EngineLinkState,
  type ResilientDispatcherEvents,
  type ResilientDispatcherOptions,
} from './resilientDispatcherOptions.ts';
import { SendWindow } from './sendWindow.ts';

/** Refusals of the upgrade that a quick retry cannot change: the engine's token, or its id. */
const REJECTING_STATUSES = new Set([400, 401, 403, 404]);

type Timer = 'connect' | 'retry';

export interface AggregatorLinkOptions {
  engineId: string;
  outbox: Outbox;
  clock: Clock;
  /** The dispatcher's options: connector, token, timeouts, retry, snapshot, inspect. */
  options: ResilientDispatcherOptions;
  /** Where the link's events go (the dispatcher): state, retry, flushProgress, error. */
  events: EventEmitter<ResilientDispatcherEvents>;
  /** Runs the aggregator's commands. */
  commandHandler(): CommandHandler | undefined;
  /** Where the command log is kept across restarts (a durable outbox's directory); none: in memory. */
  commandLogDir?: string;
  /** The link is up and records may leave the outbox: what must go before live records goes now. */
  beforeSending(): void;
  /** The machine entered `state` (after `previous`). */
  onState(state: EngineLinkState, previous: EngineLinkState): void;
  /** The acknowledged sequence number moved (or a welcome said where it stands). */
  acknowledged(): void;
  /** The link has stopped for good (said goodbye, closed, timers cancelled). */
  stopped(): void;
}

/**
 * The engine's link to its aggregator: runs the `engineLink` machine and carries out its actions. It owns
 * the transport (one at a time), says hello, replays the outbox through the send window while the link is
 * up, takes acknowledgements, answers pings and commands, and watches the aggregator for silence. Why the
 * link last failed is told with each retry.
 */
export class AggregatorLink {
  private readonly engineId: string;
  private readonly outbox: Outbox;
  private readonly options: ResilientDispatcherOptions;
  private readonly host: AggregatorLinkOptions;
  private readonly events: EventEmitter<ResilientDispatcherEvents>;
  private readonly runtime: MachineRuntime<typeof engineLinkMachine, Timer>;
  private readonly heartbeatTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly rejectedRetryMs: number;
  /** Watches the aggregator for silence while the link is up. */
  private readonly watchdog: SilenceWatchdog;
  private readonly window: SendWindow;
  private readonly commandLog: CommandLog;

  private transport: EngineTransport | undefined;
  /** True between entering and leaving `flushing`/`connected`: records may leave the outbox. */
  private up = false;
  private flushFrom = 0;
  private flushTarget = 0;
  /** A wait the aggregator asked for in an error frame, told to the machine when the link closes. */
  private askedRetryAfterMs: number | undefined;
  /** Why the link last went down or failed to come up, told with each retry. */
  private lastFailure = 'not connected yet';
  /** The last sequence number told in the hello of the current link. */
  private helloLastSeq = 0;
  /** The aggregator's last refusal of the upgrade that put the link in `rejected`. */
  private rejection = { status: 0, detail: '' };

  constructor(host: AggregatorLinkOptions) {
    const { options, clock } = host;
    this.host = host;
    this.engineId = host.engineId;
    this.outbox = host.outbox;
    this.commandLog = new CommandLog(undefined, host.commandLogDir);
    this.options = options;
    this.events = host.events;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? ENGINE_DEFAULTS.heartbeatTimeoutMs;
    this.connectTimeoutMs = options.connectTimeoutMs ?? ENGINE_DEFAULTS.connectTimeoutMs;
    this.rejectedRetryMs = options.rejectedRetryMs ?? ENGINE_DEFAULTS.rejectedRetryMs;
    this.window = new SendWindow(this.outbox, options.windowFrames ?? ENGINE_DEFAULTS.windowFrames);
    this.watchdog = new SilenceWatchdog({
      clock,
      timeoutMs: this.heartbeatTimeoutMs,
      onSilence: () => {
        this.lastFailure = `nothing heard for ${this.watchdog.timeoutMs} ms (dead or half-open link)`;
        this.runtime.dispatch({ type: 'HEARTBEAT_MISSED' });
      },
    });
    this.runtime = new MachineRuntime(engineLinkMachine, {
      clock,
      inspect: options.inspect,
      actions: (runtime) => this.actions(runtime),
      onState: (state, previous) => {
        if (previous !== undefined) host.onState(state as EngineLinkState, previous as EngineLinkState);
      },
    });
  }

  /** The machine's state, as a dotted path ('buffering.waiting'). */
  get state(): EngineLinkState {
    return this.runtime.state as EngineLinkState;
  }

  /** Whether records may leave the outbox now (flushing or connected). */
  get isUp(): boolean {
    return this.up;
  }

  /** Starts connecting. */
  start(): void {
    this.runtime.start();
  }

  /** Tries to connect now (while rejected, or to skip the current retry wait). */
  reconnect(): void {
    this.runtime.dispatch({ type: 'RECONNECT' });
  }

  /** Says goodbye and stops for good (`stopped` is called once done). */
  stop(): void {
    this.runtime.dispatch({ type: 'STOP' });
  }

  /** Sends what the window has room for. Only while flushing or connected. */
  pump(): void {
    const transport = this.transport;
    if (!this.up || !transport || transport.state !== 'open') return;
    this.window.fill(transport);
  }

  /** The effects of the engineLink machine. */
  private actions(runtime: MachineRuntime<typeof engineLinkMachine, Timer>) {
    return {
      openSocket: () => this.openSocket(),
      armConnectTimer: () =>
        runtime.startTimer('connect', this.connectTimeoutMs, () => {
          this.lastFailure = `no answer within ${this.connectTimeoutMs} ms`;
          runtime.dispatch({ type: 'CONNECT_TIMEOUT' });
        }),
      cancelConnectTimer: () => runtime.cancelTimer('connect'),
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
      scheduleRetry: (_: unknown, params: { attempt: number; retryAfterMs: number | null }) => {
        const { attempt, retryAfterMs } = params;
        const { connector, retry, random } = this.options;
        const failed = connector.target;
        // Several aggregators: the connector moves on, and says whether to try the next one at once.
        const next = connector.nextAttempt?.(retryAfterMs);
        const delayMs =
          next === undefined
            ? retryDelay(attempt, retry, random, retryAfterMs)
            : next.hop
              ? 0
              : retryDelay(next.round, retry, random, next.retryAfterMs);
        this.events.emit('retry', {
          attempt: attempt + 1,
          delayMs,
          reason: this.lastFailure,
          ...(failed === undefined ? {} : { aggregator: failed }),
          ...(next === undefined ? {} : { next: connector.target }),
        });
        runtime.startTimer('retry', delayMs, { type: 'RETRY_DUE' });
      },
      cancelRetry: () => runtime.cancelTimer('retry'),
      startFlush: () => {
        this.flushFrom = this.outbox.ackedSeq;
        this.flushTarget = this.outbox.lastSeq;
        this.events.emit('flushProgress', { sent: 0, total: this.flushTarget - this.flushFrom });
        this.pump();
      },
      startSending: () => {
        this.options.connector.linkUp?.();
        this.host.beforeSending();
        this.up = true;
        this.watchdog.start();
        this.pump();
      },
      stopSending: () => {
        this.up = false;
        this.watchdog.stop();
      },
      reportRejected: (_: unknown, { message }: { message: string }) => {
        const { status, detail } = this.rejection;
        this.events.emit(
          'error',
          AuthRejectedError.of(this.engineId, message, status, detail, this.rejectedRetryMs),
        );
      },
      scheduleRejectedRetry: () => runtime.startTimer('retry', this.rejectedRetryMs, { type: 'RETRY_DUE' }),
      closeLink: () => {
        runtime.cancelTimers();
        this.watchdog.stop();
        if (this.transport?.state === 'open') this.transport.send({ type: 'bye', reason: 'engine stopping' });
        this.dropTransport(CloseCode.Normal, 'engine stopping');
        this.host.stopped();
      },
    };
  }

  private openSocket(): void {
    this.dropTransport(CloseCode.Normal, 'reconnecting');
    const transport = this.options.connector.connect({ engineId: this.engineId, token: this.options.token });
    this.transport = transport;
    transport.on('open', () => {
      if (this.transport === transport) this.runtime.dispatch({ type: 'SOCKET_OPENED' });
    });
    transport.on('message', (message) => {
      if (this.transport === transport) this.receive(message);
    });
    transport.on('protocolError', (error) => {
      if (this.transport !== transport) return;
      this.events.emit('error', error);
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
    this.window.clear();
    const status = info.refused?.status;
    if (status !== undefined && REJECTING_STATUSES.has(status)) {
      const detail = info.refused?.message ?? '';
      this.rejection = { status, detail };
      this.lastFailure = `refused (${status}): ${detail}`;
      // Several aggregators: the slow retry goes to the next one.
      this.options.connector.nextAttempt?.(null);
      this.runtime.dispatch({ type: 'REJECTED', message: `${status} ${detail}`.trim() });
      return;
    }
    this.lastFailure = info.refused
      ? `refused${info.refused.status ? ` (${info.refused.status})` : ''}: ${info.refused.message}`
      : `closed (${info.code}${info.reason ? ` ${info.reason}` : ''})`;
    const retryAfterMs = info.refused?.retryAfterMs ?? this.askedRetryAfterMs;
    this.askedRetryAfterMs = undefined;
    this.runtime.dispatch({ type: 'SOCKET_CLOSED', retryAfterMs });
  }

  private dropTransport(code: number, reason: string): void {
    this.askedRetryAfterMs = undefined;
    const transport = this.transport;
    this.transport = undefined;
    this.window.clear();
    if (!transport) return;
    transport.removeAllListeners();
    transport.close(code, reason);
  }

  private receive(message: AggregatorMessage): void {
    this.watchdog.heard();
    switch (message.type) {
      case 'welcome': {
        if (message.ackSeq > this.helloLastSeq) this.numberPast(message.ackSeq);
        // Everything up to ackSeq is persisted; resend everything after it.
        this.outbox.acknowledge(message.ackSeq);
        this.window.restart(message.ackSeq);
        this.watchdog.timeoutMs = Math.max(this.heartbeatTimeoutMs, message.heartbeatMs * 2);
        const backlog = Math.max(0, this.outbox.lastSeq - message.ackSeq);
        this.runtime.dispatch({ type: 'WELCOME', backlog });
        this.settleAcks();
        break;
      }
      case 'ack': {
        if (message.seq > this.window.sentSeq) {
          // Nothing past sentSeq was sent on this link: believing this ack could forget unpersisted
          // records. Drop the link; the next welcome says what really is persisted.
          this.events.emit(
            'error',
            new ProtocolError(
              ErrorCode.InvalidMessage,
              `aggregator acknowledged ${message.seq}, beyond the last record sent (${this.window.sentSeq}); reconnecting`,
            ),
          );
          this.transport?.close(CloseCode.ProtocolError, 'acknowledgement beyond what was sent');
          break;
        }
        this.outbox.acknowledge(message.seq);
        this.window.acknowledged(message.seq);
        this.settleAcks();
        this.pump();
        break;
      }
      case 'ping':
        this.transport?.send({ type: 'pong', t: message.t });
        break;
      case 'error':
        if (message.retryAfterMs !== undefined) this.askedRetryAfterMs = message.retryAfterMs;
        this.events.emit('error', new ProtocolError(message.code as never, `aggregator: ${message.message}`));
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
          .run({ id, name, args }, this.host.commandHandler())
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
    this.events.emit(
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

  /** After the acknowledged sequence moved: catch-up progress and its end, then the dispatcher is told. */
  private settleAcks(): void {
    if (this.state === 'flushing') {
      const total = this.flushTarget - this.flushFrom;
      const sent = Math.min(total, this.outbox.ackedSeq - this.flushFrom);
      this.events.emit('flushProgress', { sent, total });
      if (this.outbox.ackedSeq >= this.flushTarget) this.runtime.dispatch({ type: 'BACKLOG_DRAINED' });
    }
    this.host.acknowledged();
  }
}
