import { EventEmitter } from 'eventemitter3';
import { type EngineRecord, encodeRecord, InvalidRecordError } from '../protocol/records.ts';
import { type Clock, systemClock } from '../time/clock.ts';
import { checkDuration } from '../time/timerBounds.ts';
import { AggregatorLink } from './aggregatorLink.ts';
import { BacklogAge } from './backlogAge.ts';
import type { CommandHandler } from './commands.ts';
import type { EngineDispatcher } from './dispatcher.ts';
import { ENGINE_DEFAULTS } from './engineDefaults.ts';
import { OfflineSampler } from './offlineSampler.ts';
import { OfflineWatch } from './offlineWatch.ts';
import { DurableOutbox } from './outbox/durable/durableOutbox.ts';
import type { Outbox } from './outbox/outbox.ts';
import { outboxFor } from './outbox/outboxFor.ts';
import { holdProcess } from './processHold.ts';
import {
  AuthRejectedError,
  checkDispatcherOptions,
  type DispatcherStats,
  type EngineLinkState,
  type ResilientDispatcherEvents,
  type ResilientDispatcherOptions,
} from './resilientDispatcherOptions.ts';

export type {
  DispatcherStats,
  EngineLinkState,
  OfflineInfo,
  ResilientDispatcherEvents,
  ResilientDispatcherOptions,
  RetryInfo,
} from './resilientDispatcherOptions.ts';
export { AuthRejectedError };

/**
 * The resilient dispatcher: the engine's `EngineDispatcher`, kept working through outages.
 *
 * `send()` stamps a sequence number, stores the record in the outbox and returns. The link to the
 * aggregator (`AggregatorLink`, running the `engineLink` machine) decides when to connect, retry, flush
 * and stop. Records leave the outbox in sequence order, pipelined (up to `windowFrames` frames
 * unacknowledged), and are forgotten only when the aggregator acknowledges them as persisted. After a
 * reconnect the aggregator's welcome says what it has; everything after that is sent again.
 *
 * An open dispatcher keeps the Node.js process alive, whatever its link does (down, retrying, refused),
 * as an MQTT.js or Socket.IO client does: `close()` releases it.
 */
export class ResilientDispatcher extends EventEmitter<ResilientDispatcherEvents> implements EngineDispatcher {
  readonly engineId: string;
  readonly outbox: Outbox;
  /**
   * Thins samples while the link is down, when `offlineSampleIntervalMs` is set.
   *
   * @internal
   */
  readonly offlineSampler: OfflineSampler | undefined;
  private readonly options: ResilientDispatcherOptions;
  private readonly clock: Clock;
  private readonly link: AggregatorLink;
  private readonly maxItemBytes: number;
  /** Watches outages against `maxOfflineMs`, when set. */
  private readonly offlineWatch: OfflineWatch | undefined;
  /** Releases the hold on the process (see holdProcess), once closed. */
  private releaseProcess: (() => void) | undefined;

  private produced = 0;
  /** When records entered the outbox, coarsely (see backlogAgeMs). */
  private readonly backlogAge = new BacklogAge();
  private pumpQueued = false;
  private backlogQueued = false;
  private readonly stoppedWaiters: Array<() => void> = [];
  private commandHandler: CommandHandler | undefined;
  private readonly drainWaiters: Array<() => void> = [];

  constructor(options: ResilientDispatcherOptions) {
    super();
    checkDispatcherOptions(options);
    this.options = options;
    this.engineId = options.engineId;
    this.clock = options.clock ?? systemClock;
    this.maxItemBytes = (options.maxFrameBytes ?? ENGINE_DEFAULTS.maxFrameBytes) - 128;
    this.outbox = outboxFor(options.outbox, { engineId: options.engineId, clock: this.clock });
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
    this.link = new AggregatorLink({
      engineId: options.engineId,
      outbox: this.outbox,
      clock: this.clock,
      options,
      events: this,
      commandHandler: () => this.commandHandler,
      commandLogDir: this.outbox instanceof DurableOutbox ? this.outbox.path : undefined,
      // Thinned windows go first: they precede anything sent live from now on.
      beforeSending: () => this.offlineSampler?.flush(),
      onState: (state, previous) => {
        if (isUp(state) !== isUp(previous)) {
          if (isUp(state)) this.offlineWatch?.linkUp();
          else this.offlineWatch?.linkDown();
        }
        this.emit('state', state);
        this.queueBacklogEvent();
      },
      acknowledged: () => {
        this.queueBacklogEvent();
        if (this.isDrained()) for (const done of this.drainWaiters.splice(0)) done();
      },
      stopped: () => {
        this.offlineWatch?.stop();
        this.releaseProcess?.();
        this.releaseProcess = undefined;
        for (const resolve of this.stoppedWaiters.splice(0)) resolve();
      },
    });
    this.backlogAge.appended(this.outbox.ackedSeq + 1, this.clock.now());
    this.releaseProcess = holdProcess();
    this.link.start();
  }

  /** The link machine's current state, as a dotted path ('buffering.waiting'). */
  get state(): EngineLinkState {
    return this.link.state;
  }

  /**
   * How long the oldest record not yet acknowledged has waited (ms; 0 when none waits): an upper bound,
   * off by at most 100 ms for the last hours (coarser over longer outages). A durable outbox's backlog from
   * an earlier process counts from this dispatcher's start.
   */
  get backlogAgeMs(): number {
    return this.backlogAge.ageMs(this.outbox.ackedSeq + 1, this.outbox.lastSeq, this.clock.now());
  }

  /** What the dispatcher has produced, numbered, had acknowledged, dropped and still holds, now. */
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
      ...(this.options.connector.target === undefined ? {} : { aggregator: this.options.connector.target }),
    };
  }

  send(record: EngineRecord): void {
    if (this.state === 'stopped') throw new Error(`dispatcher for ${this.engineId} is closed`);
    const now = this.clock.now();
    const item = encodeRecord(record, now);
    if (item.length > this.maxItemBytes)
      throw new InvalidRecordError(
        `record of ${item.length} bytes exceeds the frame limit of ${this.maxItemBytes}`,
      );
    const linkUp = this.link.isUp;
    if (this.offlineSampler && !linkUp && record.kind === 'sample') {
      this.offlineSampler.offer({ ...record, t: record.t ?? now }, item);
      this.produced++;
      this.queueBacklogEvent();
      return;
    }
    const seq = this.outbox.append(item, record.kind, record.kind === 'state' ? record.key : undefined);
    this.backlogAge.appended(seq, now);
    this.produced++;
    if (linkUp) {
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
    this.link.reconnect();
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
    if (this.state === 'stopped') return;
    if (options.drainTimeoutMs) await this.drain(options.drainTimeoutMs);
    const stopped = new Promise<void>((resolve) => this.stoppedWaiters.push(resolve));
    this.link.stop();
    await stopped;
    this.offlineSampler?.flush();
    await this.outbox.close();
  }

  private isDrained(): boolean {
    return this.outbox.ackedSeq >= this.outbox.lastSeq;
  }

  private readonly pumpSoon = (): void => {
    this.pumpQueued = false;
    this.link.pump();
  };

  private queueBacklogEvent(): void {
    if (this.backlogQueued) return;
    this.backlogQueued = true;
    this.clock.setTimeout(() => {
      this.backlogQueued = false;
      this.emit('backlog', { records: this.outbox.records, bytes: this.outbox.bytes });
    }, this.options.backlogEventMs ?? ENGINE_DEFAULTS.backlogEventMs);
  }
}

/** The link carries records in these states. */
function isUp(state: EngineLinkState): boolean {
  return state === 'flushing' || state === 'connected';
}
