import { EventEmitter } from 'eventemitter3';
import {
  type HardwareRecoveryMachineState,
  type HardwareRecoveryState,
  hardwareRecoveryMachine,
} from '../../machines/hardwareRecovery.ts';
import { MachineRuntime } from '../runtime/machineRuntime.ts';
import { type Clock, systemClock } from '../time/clock.ts';
import { checkDuration } from '../time/timerBounds.ts';
import { HardwareError, HardwareUnavailableError, requireDirection } from './errors.ts';
import type { HardwareLayer } from './hardwareLayer.ts';
import {
  type ConnectionStatus,
  HARDWARE_RECOVERY_DEFAULTS,
  type HardwareRecoveryCounters,
  type HardwareRecoveryEvents,
  type HardwareRecoveryOptions,
} from './hardwareRecoveryOptions.ts';
import { HardwareWrites } from './hardwareWrites.ts';
import { LastKnownGood } from './lastKnownGood.ts';
import { reconnectDelay, validateReconnectSchedule } from './reconnectBackoff.ts';
import type { HardwareRegister, HardwareValue } from './register.ts';

type Timer = 'issue' | 'error' | 'reconnect';

function topLevel(state: string): HardwareRecoveryState {
  return state.split('.')[0] as HardwareRecoveryState;
}

/**
 * Fault recovery around a hardware layer, as a decorator with the same interface (README: Hardware
 * recovery). The `hardwareRecovery` machine decides; this class carries out its actions and reports what
 * the hardware did as events.
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
  private readonly isFault: (error: unknown) => boolean;
  private readonly runtime: MachineRuntime<typeof hardwareRecoveryMachine, Timer>;
  private readonly writes: HardwareWrites;

  private status: ConnectionStatus = 'Disconnected';
  private readonly lastKnownGood = new LastKnownGood();
  private connecting: Promise<void> | undefined;
  private closing: Promise<void> = Promise.resolve();
  private lastConnectError: unknown;
  /** Bumped when the engine disconnects: connects and reconnects started before are disowned. */
  private linkGeneration = 0;
  private readonly counts: HardwareRecoveryCounters = { maskedReads: 0, skippedWrites: 0, faults: 0 };
  private usableWaiters: Array<() => void> = [];

  constructor(inner: HardwareLayer, options: HardwareRecoveryOptions = {}) {
    super();
    const defaults = HARDWARE_RECOVERY_DEFAULTS;
    this.inner = inner;
    this.name = options.name ?? defaults.name;
    this.clock = options.clock ?? systemClock;
    this.reconnectAfterMs = options.reconnectAfterMs ?? defaults.reconnectAfterMs;
    this.errorAfterMs = options.errorAfterMs ?? defaults.errorAfterMs;
    this.schedule = options.reconnectScheduleMs ?? defaults.reconnectScheduleMs;
    validateReconnectSchedule(this.schedule);
    checkDuration('reconnectAfterMs', this.reconnectAfterMs);
    checkDuration('errorAfterMs', this.errorAfterMs);
    this.isFault = options.isHardwareFault ?? ((error) => error instanceof HardwareError);
    this.writes = new HardwareWrites({
      inner,
      machineState: () => this.machineState,
      counts: this.counts,
      skipUnchanged: options.skipUnchangedWrites ?? defaults.skipUnchangedWrites,
      floatTolerance: options.floatTolerance ?? defaults.floatTolerance,
      isFault: this.isFault,
      failed: (registers, error) => this.failed('write', registers, error),
      succeeded: () => this.runtime.dispatch({ type: 'READ_WRITE_SUCCEEDED' }),
      failedWhileFlushing: () => this.runtime.dispatch({ type: 'READ_WRITE_FAILED' }),
      emit: this.emit.bind(this),
    });
    this.runtime = new MachineRuntime(hardwareRecoveryMachine, {
      clock: this.clock,
      inspect: options.inspect,
      actions: (runtime) => this.actions(runtime),
      onState: (next, previous) => {
        const from = topLevel(previous ?? next);
        const to = topLevel(next);
        if (from !== to) this.emit('state', { from, to });
        if (this.usable) for (const resolve of this.usableWaiters.splice(0)) resolve();
      },
    });
    this.runtime.start();
    // A layer handed over already connected starts in ok.
    if (inner.isConnected) this.runtime.dispatch({ type: 'CONNECT_SUCCEEDED' });
  }

  /** One of the five states: disconnected, ok, issue, reconnect, error. */
  get state(): HardwareRecoveryState {
    return topLevel(this.runtime.state);
  }

  /** The machine's state as a dotted path ('reconnect.waiting', 'error.connecting'). */
  get machineState(): HardwareRecoveryMachineState {
    return this.runtime.state as HardwareRecoveryMachineState;
  }

  /** Connected in ok, issue and reconnect (faults are masked); Disconnected in disconnected and error. */
  get connectionStatus(): ConnectionStatus {
    return this.status;
  }

  /** True in ok and issue: the hardware answered since the last (re)connect. */
  get isConnected(): boolean {
    return this.machineState === 'ok' || this.machineState === 'issue';
  }

  get registers(): ReadonlyMap<string, HardwareRegister> {
    return this.inner.registers;
  }

  /** Writes waiting for the hardware, register name → latest value, oldest first. */
  get pendingWrites(): ReadonlyMap<string, HardwareValue> {
    return this.writes.pending.snapshot();
  }

  /** Counts of what recovery did: faults seen, values masked, writes kept pending, reconnects. */
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
    if (this.machineState !== 'disconnected') return Promise.resolve();
    this.connecting ??= this.connectFromDisconnected();
    return this.connecting;
  }

  /** Disconnects the hardware and stops recovering: timers cancelled, pending writes dropped. */
  async disconnect(): Promise<void> {
    this.runtime.dispatch({ type: 'DISCONNECT' });
    await this.closing;
  }

  /**
   * Reads from the hardware; while recovering, the last-known-good value (or `null`, reported once); in
   * `error` or `disconnected`, `HardwareUnavailableError`.
   */
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
    this.lastKnownGood.remember(register.name, value);
    this.runtime.dispatch({ type: 'READ_WRITE_SUCCEEDED' });
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
      this.lastKnownGood.remember(register.name, values[i] ?? null);
    });
    this.runtime.dispatch({ type: 'READ_WRITE_SUCCEEDED' });
    return values;
  }

  /**
   * Writes to the hardware; while recovering, keeps the value as a pending write (the latest per register
   * wins); in `error` or `disconnected`, `HardwareUnavailableError`.
   */
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
    this.runtime.dispatch({ type: 'READ_WRITE_FAILED' });
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
    const { value, report } = this.lastKnownGood.standIn(register.name);
    if (report) this.emit('noLastKnownGood', { register: register.name, state: this.state });
    return value;
  }

  private async writeAll(
    values: readonly HardwareValue[],
    registers: readonly HardwareRegister[],
  ): Promise<void> {
    for (const register of registers) requireDirection(register, 'write');
    this.requireUsable('write', registers);
    await this.writes.write(values, registers, this.state === 'reconnect');
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
          this.runtime.dispatch({ type: 'CONNECT_FAILED' });
        }
        throw error;
      }
      if (generation !== this.linkGeneration) {
        this.releaseDisowned();
        throw new HardwareUnavailableError({ hardware: this.name, operation: 'connect', state: this.state });
      }
      this.runtime.dispatch({ type: 'CONNECT_SUCCEEDED' });
    } finally {
      this.connecting = undefined;
    }
  }

  private attemptReconnect(failedAttempts: number): void {
    const attempt = failedAttempts + 1;
    const generation = this.linkGeneration;
    this.runtime.afterTransition(() =>
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
        this.runtime.dispatch({ type: 'RECONNECT_SUCCEEDED' });
      },
      (error: unknown) => {
        if (generation !== this.linkGeneration) return;
        this.emit('reconnectResult', { attempt, ok: false, error });
        this.runtime.dispatch({ type: 'RECONNECT_FAILED' });
      },
    );
  }

  /** A connect the engine gave up on (by disconnecting) succeeded after all: undo it. */
  private releaseDisowned(): void {
    if (this.machineState !== 'disconnected') return;
    this.inner.disconnect().catch(() => {});
  }

  // The machine's actions.

  private setStatus(status: ConnectionStatus): void {
    if (this.status === status) return;
    this.status = status;
    this.runtime.afterTransition(() => this.emit('connectionStatus', status));
  }

  private actions(runtime: MachineRuntime<typeof hardwareRecoveryMachine, Timer>) {
    return {
      setStatusConnected: () => this.setStatus('Connected'),
      setStatusDisconnected: () => this.setStatus('Disconnected'),
      reportConnectFailed: () => {
        const error = this.lastConnectError;
        runtime.afterTransition(() => this.emit('connectFailed', error));
      },
      flushPendingWrites: () => this.writes.flushPending(),
      armIssueTimer: () => runtime.startTimer('issue', this.reconnectAfterMs, { type: 'ISSUE_TIMEOUT' }),
      cancelIssueTimer: () => runtime.cancelTimer('issue'),
      armErrorTimer: () => runtime.startTimer('error', this.errorAfterMs, { type: 'ERROR_TIMEOUT' }),
      cancelErrorTimer: () => runtime.cancelTimer('error'),
      scheduleReconnect: (_: unknown, { attempt }: { attempt: number }) => {
        const delayMs = reconnectDelay(attempt, this.schedule);
        runtime.startTimer('reconnect', delayMs, { type: 'RECONNECT_DUE' });
        runtime.afterTransition(() => this.emit('reconnectScheduled', { attempt: attempt + 1, delayMs }));
      },
      attemptReconnect: (_: unknown, { attempt }: { attempt: number }) => this.attemptReconnect(attempt),
      stopConnecting: () => {
        runtime.cancelTimer('reconnect');
        this.linkGeneration++;
      },
      closeHardware: () => {
        const inner = this.inner;
        this.closing = (async () => inner.disconnect())();
        // disconnect() reports a failure to close; nobody else waits for it.
        this.closing.catch(() => {});
      },
      forgetWrittenValues: () => this.writes.forgetWritten(),
      stopMasking: (_: unknown, { reason }: { reason: 'error' | 'disconnected' }) => {
        const dropped = this.writes.pending.takeAll().map((w) => w.register.name);
        this.lastKnownGood.forget();
        if (dropped.length === 0) return;
        runtime.afterTransition(() => this.emit('pendingWritesDropped', { registers: dropped, reason }));
      },
    };
  }
}
