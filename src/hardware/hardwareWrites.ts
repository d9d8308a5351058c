import type { EventEmitter } from 'eventemitter3';
import type { HardwareRecoveryMachineState } from '../../machines/hardwareRecovery.ts';
import type { HardwareLayer } from './hardwareLayer.ts';
import type { HardwareRecoveryCounters, HardwareRecoveryEvents } from './hardwareRecoveryOptions.ts';
import { type PendingWrite, PendingWrites } from './pendingWrites.ts';
import type { HardwareRegister, HardwareValue } from './register.ts';
import { sameValue } from './sameValue.ts';

/** What the write path needs of the `HardwareRecovery` that owns it. */
export interface WriteHost {
  readonly inner: HardwareLayer;
  /** The machine's state as a dotted path. */
  machineState(): HardwareRecoveryMachineState;
  readonly counts: HardwareRecoveryCounters;
  readonly skipUnchanged: boolean;
  readonly floatTolerance: number;
  isFault(error: unknown): boolean;
  /** A hardware fault on a write: the machine hears of it; then it is masked (returns) or thrown. */
  failed(registers: readonly HardwareRegister[], error: unknown): void;
  /** The hardware took a write (READ_WRITE_SUCCEEDED) or failed one while flushing (READ_WRITE_FAILED). */
  succeeded(): void;
  failedWhileFlushing(): void;
  readonly emit: EventEmitter<HardwareRecoveryEvents>['emit'];
}

/**
 * The recovery's write path: the unchanged-value filter (the value last written successfully to each
 * register), writes kept pending while the hardware is away (the latest value per register), and their
 * flush once the link is `ok` again, in the order they were asked for.
 */
export class HardwareWrites {
  readonly pending = new PendingWrites();
  /** The value last written successfully to each register, while it is known to be there. */
  private readonly written = new Map<string, HardwareValue>();
  /** The serial number of the latest write asked for, per register. */
  private readonly latestWrite = new Map<string, number>();
  private writeSerial = 0;
  private flushing: Promise<void> | undefined;

  constructor(private readonly host: WriteHost) {}

  /**
   * Writes `values` to `registers` (checked and allowed by the caller): skipped where the register holds
   * the value already; kept pending in `reconnect` (`masking`) and while pending writes are flushed;
   * otherwise written, a fault leaving them pending (or thrown, outside `issue`).
   */
  async write(
    values: readonly HardwareValue[],
    registers: readonly HardwareRegister[],
    masking: boolean,
  ): Promise<void> {
    const writes: PendingWrite[] = [];
    registers.forEach((register, i) => {
      const value = values[i]!;
      const serial = ++this.writeSerial;
      this.latestWrite.set(register.name, serial);
      if (this.isUnchanged(register, value)) {
        // The hardware holds this value already: an older pending value must not overwrite it.
        this.pending.delete(register.name);
        this.host.counts.skippedWrites++;
      } else {
        writes.push({ register, value, serial });
      }
    });
    if (writes.length === 0) return;
    // In reconnect nothing touches the hardware; while pending writes are being flushed, new ones
    // join the queue so that the hardware sees every register's values in order.
    if (masking || this.flushing) {
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
      if (!this.host.isFault(error)) throw error;
      this.host.failed(
        writes.map((w) => w.register),
        error,
      );
      this.keepPending(writes);
      return;
    }
    this.wrote(writes);
    this.host.succeeded();
  }

  /** The device may restart: the next write of every register goes through the filter unfiltered. */
  forgetWritten(): void {
    this.written.clear();
  }

  /**
   * Writes pending values while the link is ok; stops at the first fault (the rest stay pending). When
   * the layer refuses a batch with an error that is not a fault, the writes go one at a time, and each
   * refused one is dropped and reported (`pendingWritesDropped`, reason `rejected`).
   */
  flushPending(): void {
    if (this.flushing || this.pending.size === 0) return;
    this.flushing = this.flushWhileOk();
  }

  private async flushWhileOk(): Promise<void> {
    const host = this.host;
    let oneByOne = false;
    try {
      // Let the transition that asked for the flush complete first.
      await null;
      while (host.machineState() === 'ok' && this.pending.size > 0) {
        const taken = oneByOne ? [this.pending.takeOldest()!] : this.pending.takeAll();
        const writes = taken.filter((write) => {
          if (!this.isUnchanged(write.register, write.value)) return true;
          host.counts.skippedWrites++;
          return false;
        });
        if (writes.length === 0) continue;
        for (const write of writes) this.written.delete(write.register.name);
        try {
          await this.writeToHardware(writes);
        } catch (error) {
          const latest = writes.filter((write) => this.isLatest(write));
          if (!host.isFault(error)) {
            if (writes.length > 1) {
              this.pending.restore(latest);
              oneByOne = true;
            } else if (latest.length > 0)
              host.emit('pendingWritesDropped', {
                registers: [latest[0]!.register.name],
                reason: 'rejected',
                error,
              });
            continue;
          }
          this.pending.restore(latest);
          host.counts.faults++;
          host.failedWhileFlushing();
          const names = writes.map((w) => w.register.name);
          host.emit('fault', { operation: 'write', registers: names, error, masked: true });
          return;
        }
        this.wrote(writes);
        host.emit(
          'pendingWritesFlushed',
          writes.map((w) => w.register.name),
        );
        host.succeeded();
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private isUnchanged(register: HardwareRegister, value: HardwareValue): boolean {
    if (!this.host.skipUnchanged || !this.written.has(register.name)) return false;
    return sameValue(this.written.get(register.name)!, value, register.tolerance ?? this.host.floatTolerance);
  }

  private writeToHardware(writes: readonly PendingWrite[]): Promise<void> {
    const inner = this.host.inner;
    if (writes.length === 1) return inner.write(writes[0]!.value, writes[0]!.register);
    return inner.writeBatch(
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
}
