import { EventEmitter } from 'eventemitter3';
import { type Actor, createActor, type InspectionEvent } from 'xstate';
import {
  type HardwareRecoveryEvent,
  type HardwareRecoveryMachineState,
  type HardwareRecoveryState,
  hardwareRecoveryMachine,
} from '../../machines/hardwareRecovery.ts';
import { stateName } from '../../machines/stateName.ts';
import { type Clock, systemClock, type TimerHandle } from '../time/clock.ts';
import { checkDuration } from '../time/timerBounds.ts';
import { HardwareError, HardwareUnavailableError, requireDirection } from './errors.ts';
import type { HardwareLayer } from './hardwareLayer.ts';
import { type PendingWrite, PendingWrites } from './pendingWrites.ts';
import {
  DEFAULT_RECONNECT_SCHEDULE_MS,
  reconnectDelay,
  validateReconnectSchedule,
} from './reconnectBackoff.ts';
import type { HardwareRegister, HardwareValue } from './register.ts';
import { sameValue } from './sameValue.ts';

export interface HardwareRecoveryOptions {
  /** Names the hardware in errors and in the state record sent to the aggregator. Default 'hardware'. */
  name?: string;
  clock?: Clock;
  /** In `issue` this long without a successful read or write, the link reconnects. Default 10 s. */
  reconnectAfterMs?: number;
  /** In `reconnect` this long without a successful reconnect, the link is in `error`. Default 5 h. */
  errorAfterMs?: number;
  /** Waits before successive reconnect attempts; the last repeats. Default 0.5 s, 2 s, 10 s, 30 s, 2 min, 30 min. */
  reconnectScheduleMs?: readonly number[];
  /** Skip writes of the value last written successfully to the register. Default true. */
  skipUnchangedWrites?: boolean;
  /** Numbers within this of each other are the same value for that filter (per register: `tolerance`). Default 1e-9. */
  floatTolerance?: number;
  /** Which errors of the decorated layer are hardware faults (masked, counted). Default: `HardwareError`s. */
  isHardwareFault?: (error: unknown) => boolean;
  /** Receives the machine's inspection events (Stately inspector). */
  inspect?: (event: InspectionEvent) => void;
}

/** What the engine's connection-status tag shows. Connected while faults are masked. */
export type ConnectionStatus = 'Connected' | 'Disconnected';

export type ReconnectResult = { attempt: number; ok: true } | { attempt: number; ok: false; error: unknown };

export interface HardwareFault {
  operation: 'read' | 'write';
  registers: readonly string[];
  error: unknown;
  /** True when the engine was not told (a last-known-good value or a pending write stood in). */
  masked: boolean;
}

export interface HardwareRecoveryEvents {
  /** The link moved to another of the five states. */
  state: [change: { from: HardwareRecoveryState; to: HardwareRecoveryState }];
  connectionStatus: [status: ConnectionStatus];
  /** Reconnect attempt number `attempt` (1 = the first after entering reconnect) will be made in `delayMs`. */
  reconnectScheduled: [info: { attempt: number; delayMs: number }];
  reconnectAttempt: [info: { attempt: number; state: 'reconnect' | 'error' }];
  reconnectResult: [result: ReconnectResult];
  /** The engine's connect() failed; the link stays disconnected. */
  connectFailed: [error: unknown];
  /** A read or write failed with a hardware fault. */
  fault: [fault: HardwareFault];
  /** A read had to be masked but no value was ever read from the register: it returned null. Once per register and episode. */
  noLastKnownGood: [info: { register: string; state: HardwareRecoveryState }];
  pendingWritesFlushed: [registers: readonly string[]];
  /**
   * Pending writes were given up: masking stopped (error), the engine disconnected, or the layer refused
   * them with an error that is not a hardware fault (`rejected`, with that error: writing again cannot help).
   */
  pendingWritesDropped: [
    info: { registers: readonly string[]; reason: 'error' | 'disconnected' | 'rejected'; error?: unknown },
  ];
}

export interface HardwareRecoveryCounters {
  /** Reads answered with a last-known-good value (or null) instead of the hardware's. */
  maskedReads: number;
  /** Writes not sent because the register already holds the value. */
  skippedWrites: number;
  /** Hardware faults seen on reads and writes. */
  faults: number;
}

const DEFAULT_RECONNECT_AFTER_MS = 10_000;
const DEFAULT_ERROR_AFTER_MS = 5 * 60 * 60 * 1000;

function topLevel(state: HardwareRecoveryMachineState): HardwareRecoveryState {
  return state.split('.')[0] as HardwareRecoveryState;
}

/**
 * Fault recovery around a hardware layer, as a decorator with the same interface (DESIGN.md promise 8).
 * The `hardwareRecovery` machine decides; this class carries out its actions and reports what the
 * hardware did as events.
 *
 * - `ok`: reads and writes go to the hardware. A fault moves the link to `issue`.
 * - `issue`: reads and writes still go to the hardware; a failed read returns the register's
 *   last-known-good value, a failed write is kept as pending. A success returns to `ok`.
 * - `reconnect` (after `reconnectAfterMs` in issue): reads return last-known-good values and writes
 *   become pending without touching the hardware; the layer is reconnected on a backoff schedule.
 * - `error` (after `errorAfterMs` in reconnect): reads and writes fail with `HardwareUnavailableError`,
 *   pending writes are dropped, the connection status reads Disconnected; reconnects continue.
 * - `disconnected`: before connect() and after disconnect(); reads and writes fail.
 *
 * Pending writes (latest value per register) are written when the link next enters `ok`: after a
 * successful read or write in `issue`, or a successful reconnect. Writes of the value last written
 * successfully are skipped (`skipUnchangedWrites`). Commands that need the hardware run only in `ok`
 * (`runCommand(name, fn, { requiresHardware: true })`).
 */
export class HardwareRecovery extends EventEmitter<HardwareRecoveryEvents> implements HardwareLayer {
  readonly name: string;
  private readonly inner: HardwareLayer;
  private readonly clock: Clock;
  private readonly reconnectAfterMs: number;
  private readonly errorAfterMs: number;
  private readonly schedule: readonly number[];
  private readonly skipUnchanged: boolean;
  private readonly floatTolerance: number;
  private readonly isFault: (error: unknown) => boolean;
  private readonly actor: Actor<typeof hardwareRecoveryMachine>;

  private currentState: HardwareRecoveryMachineState = 'disconnected';
  private status: ConnectionStatus = 'Disconnected';
  private readonly lastKnownGood = new Map<string, HardwareValue>();
  private readonly reportedWithoutValue = new Set<string>();
  private readonly pending = new PendingWrites();
  /** The value last written successfully to each register, while it is known to be there. */
  private readonly written = new Map<string, HardwareValue>();
  /** The serial number of the latest write asked for, per register. */
  private readonly latestWrite = new Map<string, number>();
  private writeSerial = 0;
  private flushing: Promise<void> | undefined;
  private connecting: Promise<void> | undefined;
  private closing: Promise<void> = Promise.resolve();
  private lastConnectError: unknown;
  /** Bumped when the engine disconnects: connects and reconnects started before are disowned. */
  private linkGeneration = 0;
  private readonly counts: HardwareRecoveryCounters = { maskedReads: 0, skippedWrites: 0, faults: 0 };
  private readonly timers: Record<'issue' | 'error' | 'reconnect', TimerHandle | undefined> = {
    issue: undefined,
    error: undefined,
    reconnect: undefined,
  };
  /** Announcements made by actions during a transition, emitted once the transition is complete. */
  private actionNotices: Array<() => void> = [];
  private readonly notices: Array<() => void> = [];
  private announcing = false;
  private usableWaiters: Array<() => void> = [];

  constructor(inner: HardwareLayer, options: HardwareRecoveryOptions = {}) {
    super();
    this.inner = inner;
    this.name = options.name ?? 'hardware';
    this.clock = options.clock ?? systemClock;
    this.reconnectAfterMs = options.reconnectAfterMs ?? DEFAULT_RECONNECT_AFTER_MS;
    this.errorAfterMs = options.errorAfterMs ?? DEFAULT_ERROR_AFTER_MS;
    this.schedule = options.reconnectScheduleMs ?? DEFAULT_RECONNECT_SCHEDULE_MS;
    validateReconnectSchedule(this.schedule);
    checkDuration('reconnectAfterMs', this.reconnectAfterMs);
    checkDuration('errorAfterMs', this.errorAfterMs);
    this.skipUnchanged = options.skipUnchangedWrites ?? true;
    this.floatTolerance = options.floatTolerance ?? 1e-9;
    this.isFault = options.isHardwareFault ?? ((error) => error instanceof HardwareError);
    this.actor = createActor(this.recoveryMachine(), { inspect: options.inspect });
    this.actor.subscribe((snapshot) =>
      this.observe(stateName(snapshot.value) as HardwareRecoveryMachineState),
    );
    this.actor.start();
    this.announce();
    // A layer handed over already connected starts in ok.
    if (inner.isConnected) this.send({ type: 'CONNECT_SUCCEEDED' });
  }

  /** One of the five states: disconnected, ok, issue, reconnect, error. */
  get state(): HardwareRecoveryState {
    return topLevel(this.currentState);
  }

  /** The machine's state as a dotted path ('reconnect.waiting', 'error.connecting'). */
  get machineState(): HardwareRecoveryMachineState {
    return this.currentState;
  }

  /** Connected in ok, issue and reconnect (faults are masked); Disconnected in disconnected and error. */
  get connectionStatus(): ConnectionStatus {
    return this.status;
  }

  /** True in ok and issue: the hardware answered since the last (re)connect. */
  get isConnected(): boolean {
    return this.currentState === 'ok' || this.currentState === 'issue';
  }

  get registers(): ReadonlyMap<string, HardwareRegister> {
    return this.inner.registers;
  }

  /** Writes waiting for the hardware, register name → latest value, oldest first. */
  get pendingWrites(): ReadonlyMap<string, HardwareValue> {
    return this.pending.snapshot();
  }

  get counters(): Readonly<HardwareRecoveryCounters> {
    return { ...this.counts };
  }

  /** True when reads and writes do not fail: in ok, issue and reconnect. */
  get usable(): boolean {
    return this.state === 'ok' || this.state === 'issue' || this.state === 'reconnect';
  }

  /**
   * Resolves when reads and writes no longer fail (at once if they do not). A method that got a
   * `HardwareUnavailableError` pauses here until the link is back.
   */
  whenUsable(): Promise<void> {
    if (this.usable) return Promise.resolve();
    return new Promise((resolve) => this.usableWaiters.push(resolve));
  }

  /**
   * Connects the hardware, from `disconnected`. Rejects with the layer's error when that fails (the
   * link stays disconnected). In any other state the recovery already owns the connection (it
   * reconnects by itself), and this resolves at once.
   */
  connect(): Promise<void> {
    if (this.currentState !== 'disconnected') return Promise.resolve();
    this.connecting ??= this.connectFromDisconnected();
    return this.connecting;
  }

  /** Disconnects the hardware and stops recovering: timers cancelled, pending writes dropped. */
  async disconnect(): Promise<void> {
    this.send({ type: 'DISCONNECT' });
    await this.closing;
  }

  async read(register: HardwareRegister): Promise<HardwareValue> {
    requireDirection(register, 'read');
    this.requireUsable('read', [register]);
    if (this.state === 'reconnect') return this.masked(register);
    let value: HardwareValue;
    try {
      value = await this.inner.read(register);
    } catch (error) {
      if (!this.isFault(error)) throw error;
      this.failed('read', [register], error);
      return this.masked(register);
    }
    this.remember(register, value);
    this.send({ type: 'READ_WRITE_SUCCEEDED' });
    return value;
  }

  async readBatch(registers: readonly HardwareRegister[]): Promise<HardwareValue[]> {
    for (const register of registers) requireDirection(register, 'read');
    this.requireUsable('read', registers);
    if (this.state === 'reconnect') return registers.map((register) => this.masked(register));
    let values: HardwareValue[];
    try {
      values = await this.inner.readBatch(registers);
    } catch (error) {
      if (!this.isFault(error)) throw error;
      this.failed('read', registers, error);
      return registers.map((register) => this.masked(register));
    }
    registers.forEach((register, i) => {
      this.remember(register, values[i] ?? null);
    });
    this.send({ type: 'READ_WRITE_SUCCEEDED' });
    return values;
  }

  async write(value: HardwareValue, register: HardwareRegister): Promise<void> {
    await this.writeAll([value], [register]);
  }

  async writeBatch(values: readonly HardwareValue[], registers: readonly HardwareRegister[]): Promise<void> {
    if (values.length !== registers.length)
      throw new RangeError(`writeBatch: ${values.length} values for ${registers.length} registers`);
    await this.writeAll(values, registers);
  }

  /**
   * Runs a hardware command. One marked `requiresHardware` cannot be masked, so it fails at once with
   * `HardwareUnavailableError` anywhere but `ok`; others run in any state.
   */
  async runCommand<T>(
    name: string,
    command: () => T | Promise<T>,
    options: { requiresHardware?: boolean } = {},
  ): Promise<T> {
    if (options.requiresHardware && this.state !== 'ok')
      throw new HardwareUnavailableError({
        hardware: this.name,
        operation: 'command',
        state: this.state,
        command: name,
      });
    return await command();
  }

  // Reads and writes.

  private requireUsable(operation: 'read' | 'write', registers: readonly HardwareRegister[]): void {
    if (this.usable) return;
    throw new HardwareUnavailableError({
      hardware: this.name,
      operation,
      state: this.state,
      registers: registers.map((r) => r.name),
    });
  }

  /** After a hardware fault: tells the machine, then either masks (returns) or throws. */
  private failed(operation: 'read' | 'write', registers: readonly HardwareRegister[], error: unknown): void {
    this.counts.faults++;
    this.send({ type: 'READ_WRITE_FAILED' });
    const masked = this.state === 'issue' || this.state === 'reconnect';
    const names = registers.map((r) => r.name);
    this.emit('fault', { operation, registers: names, error, masked });
    if (!masked)
      throw new HardwareUnavailableError({
        hardware: this.name,
        operation,
        state: this.state,
        registers: names,
        cause: error,
      });
  }

  private masked(register: HardwareRegister): HardwareValue {
    this.counts.maskedReads++;
    if (this.lastKnownGood.has(register.name)) return this.lastKnownGood.get(register.name)!;
    if (!this.reportedWithoutValue.has(register.name)) {
      this.reportedWithoutValue.add(register.name);
      this.emit('noLastKnownGood', { register: register.name, state: this.state });
    }
    return null;
  }

  private remember(register: HardwareRegister, value: HardwareValue): void {
    this.lastKnownGood.set(register.name, value);
    this.reportedWithoutValue.delete(register.name);
  }

  private isUnchanged(register: HardwareRegister, value: HardwareValue): boolean {
    if (!this.skipUnchanged || !this.written.has(register.name)) return false;
    return sameValue(this.written.get(register.name)!, value, register.tolerance ?? this.floatTolerance);
  }

  private async writeAll(
    values: readonly HardwareValue[],
    registers: readonly HardwareRegister[],
  ): Promise<void> {
    for (const register of registers) requireDirection(register, 'write');
    this.requireUsable('write', registers);
    const writes: PendingWrite[] = [];
    registers.forEach((register, i) => {
      const value = values[i]!;
      const serial = ++this.writeSerial;
      this.latestWrite.set(register.name, serial);
      if (this.isUnchanged(register, value)) {
        // The hardware holds this value already: an older pending value must not overwrite it.
        this.pending.delete(register.name);
        this.counts.skippedWrites++;
      } else {
        writes.push({ register, value, serial });
      }
    });
    if (writes.length === 0) return;
    // In reconnect nothing touches the hardware; while pending writes are being flushed, new ones
    // join the queue so that the hardware sees every register's values in order.
    if (this.state === 'reconnect' || this.flushing) {
      for (const write of writes) this.pending.set(write);
      return;
    }
    for (const write of writes) {
      this.pending.delete(write.register.name);
      this.written.delete(write.register.name);
    }
    try {
      await this.writeToHardware(writes);
    } catch (error) {
      if (!this.isFault(error)) throw error;
      this.failed(
        'write',
        writes.map((w) => w.register),
        error,
      );
      this.keepPending(writes);
      return;
    }
    this.wrote(writes);
    this.send({ type: 'READ_WRITE_SUCCEEDED' });
  }

  private writeToHardware(writes: readonly PendingWrite[]): Promise<void> {
    if (writes.length === 1) return this.inner.write(writes[0]!.value, writes[0]!.register);
    return this.inner.writeBatch(
      writes.map((w) => w.value),
      writes.map((w) => w.register),
    );
  }

  private isLatest(write: PendingWrite): boolean {
    return this.latestWrite.get(write.register.name) === write.serial;
  }

  private wrote(writes: readonly PendingWrite[]): void {
    for (const write of writes) if (this.isLatest(write)) this.written.set(write.register.name, write.value);
  }

  private keepPending(writes: readonly PendingWrite[]): void {
    for (const write of writes) if (this.isLatest(write)) this.pending.set(write);
  }

  /**
   * Writes pending values while the link is ok; stops at the first fault (the rest stay pending). When
   * the layer refuses a batch with an error that is not a fault, the writes go one at a time, and each
   * refused one is dropped and reported (`pendingWritesDropped`, reason `rejected`).
   */
  private flushPendingWrites(): void {
    if (this.flushing || this.pending.size === 0) return;
    this.flushing = this.flushWhileOk();
  }

  private async flushWhileOk(): Promise<void> {
    let oneByOne = false;
    try {
      // Let the transition that asked for the flush complete first.
      await null;
      while (this.currentState === 'ok' && this.pending.size > 0) {
        const taken = oneByOne ? [this.pending.takeOldest()!] : this.pending.takeAll();
        const writes = taken.filter((write) => {
          if (!this.isUnchanged(write.register, write.value)) return true;
          this.counts.skippedWrites++;
          return false;
        });
        if (writes.length === 0) continue;
        for (const write of writes) this.written.delete(write.register.name);
        try {
          await this.writeToHardware(writes);
        } catch (error) {
          const latest = writes.filter((write) => this.isLatest(write));
          if (!this.isFault(error)) {
            if (writes.length > 1) {
              this.pending.restore(latest);
              oneByOne = true;
            } else if (latest.length > 0)
              this.emit('pendingWritesDropped', {
                registers: [latest[0]!.register.name],
                reason: 'rejected',
                error,
              });
            continue;
          }
          this.pending.restore(latest);
          this.counts.faults++;
          this.send({ type: 'READ_WRITE_FAILED' });
          const names = writes.map((w) => w.register.name);
          this.emit('fault', { operation: 'write', registers: names, error, masked: true });
          return;
        }
        this.wrote(writes);
        this.emit(
          'pendingWritesFlushed',
          writes.map((w) => w.register.name),
        );
        this.send({ type: 'READ_WRITE_SUCCEEDED' });
      }
    } finally {
      this.flushing = undefined;
    }
  }

  // Connecting.

  private async connectFromDisconnected(): Promise<void> {
    const generation = this.linkGeneration;
    try {
      await null;
      try {
        await this.inner.connect();
      } catch (error) {
        if (generation === this.linkGeneration) {
          this.lastConnectError = error;
          this.send({ type: 'CONNECT_FAILED' });
        }
        throw error;
      }
      if (generation !== this.linkGeneration) {
        this.releaseDisowned();
        throw new HardwareUnavailableError({ hardware: this.name, operation: 'connect', state: this.state });
      }
      this.send({ type: 'CONNECT_SUCCEEDED' });
    } finally {
      this.connecting = undefined;
    }
  }

  private attemptReconnect(failedAttempts: number): void {
    const attempt = failedAttempts + 1;
    const generation = this.linkGeneration;
    this.actionNotices.push(() =>
      this.emit('reconnectAttempt', { attempt, state: this.state === 'error' ? 'error' : 'reconnect' }),
    );
    const reconnect = async () => {
      await null;
      try {
        await this.inner.disconnect();
      } catch {
        // A dead link may refuse to close cleanly; connecting is what matters.
      }
      await this.inner.connect();
    };
    reconnect().then(
      () => {
        if (generation !== this.linkGeneration) return this.releaseDisowned();
        this.emit('reconnectResult', { attempt, ok: true });
        this.send({ type: 'RECONNECT_SUCCEEDED' });
      },
      (error: unknown) => {
        if (generation !== this.linkGeneration) return;
        this.emit('reconnectResult', { attempt, ok: false, error });
        this.send({ type: 'RECONNECT_FAILED' });
      },
    );
  }

  /** A connect the engine gave up on (by disconnecting) succeeded after all: undo it. */
  private releaseDisowned(): void {
    if (this.currentState !== 'disconnected') return;
    this.inner.disconnect().catch(() => {});
  }

  // The machine and its actions.

  private send(event: HardwareRecoveryEvent): void {
    this.actor.send(event);
    this.announce();
  }

  /** Called after every transition: the new state, then what the actions announced. */
  private observe(next: HardwareRecoveryMachineState): void {
    const from = this.state;
    this.currentState = next;
    const to = this.state;
    const batch = this.actionNotices;
    this.actionNotices = [];
    if (from !== to) this.notices.push(() => this.emit('state', { from, to }));
    this.notices.push(...batch);
    if (this.usable) for (const resolve of this.usableWaiters.splice(0)) resolve();
  }

  /** Emits queued notices in order; a listener that causes another transition queues behind them. */
  private announce(): void {
    if (this.announcing) return;
    this.announcing = true;
    try {
      for (let notice = this.notices.shift(); notice; notice = this.notices.shift()) notice();
    } finally {
      this.announcing = false;
    }
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.status === status) return;
    this.status = status;
    this.actionNotices.push(() => this.emit('connectionStatus', status));
  }

  private recoveryMachine() {
    return hardwareRecoveryMachine.provide({
      actions: {
        setStatusConnected: () => this.setStatus('Connected'),
        setStatusDisconnected: () => this.setStatus('Disconnected'),
        reportConnectFailed: () => {
          const error = this.lastConnectError;
          this.actionNotices.push(() => this.emit('connectFailed', error));
        },
        flushPendingWrites: () => this.flushPendingWrites(),
        armIssueTimer: () => {
          this.timers.issue = this.clock.setTimeout(
            () => this.send({ type: 'ISSUE_TIMEOUT' }),
            this.reconnectAfterMs,
          );
        },
        cancelIssueTimer: () => this.cancelTimer('issue'),
        armErrorTimer: () => {
          this.timers.error = this.clock.setTimeout(
            () => this.send({ type: 'ERROR_TIMEOUT' }),
            this.errorAfterMs,
          );
        },
        cancelErrorTimer: () => this.cancelTimer('error'),
        scheduleReconnect: (_, { attempt }) => {
          const delayMs = reconnectDelay(attempt, this.schedule);
          this.cancelTimer('reconnect');
          this.timers.reconnect = this.clock.setTimeout(() => this.send({ type: 'RECONNECT_DUE' }), delayMs);
          this.actionNotices.push(() => this.emit('reconnectScheduled', { attempt: attempt + 1, delayMs }));
        },
        attemptReconnect: (_, { attempt }) => this.attemptReconnect(attempt),
        stopConnecting: () => {
          this.cancelTimer('reconnect');
          this.linkGeneration++;
        },
        closeHardware: () => {
          const inner = this.inner;
          this.closing = (async () => inner.disconnect())();
          // disconnect() reports a failure to close; nobody else waits for it.
          this.closing.catch(() => {});
        },
        forgetWrittenValues: () => this.written.clear(),
        stopMasking: (_, { reason }) => {
          const dropped = this.pending.takeAll().map((w) => w.register.name);
          this.lastKnownGood.clear();
          this.reportedWithoutValue.clear();
          if (dropped.length === 0) return;
          this.actionNotices.push(() => this.emit('pendingWritesDropped', { registers: dropped, reason }));
        },
      },
    });
  }

  private cancelTimer(name: 'issue' | 'error' | 'reconnect'): void {
    this.timers[name]?.cancel();
    this.timers[name] = undefined;
  }
}
