import type { HardwareRegister, HardwareValue } from './register.ts';

/** A write kept for later. `serial` orders it among all writes asked of the recovery. */
export interface PendingWrite {
  readonly register: HardwareRegister;
  readonly value: HardwareValue;
  readonly serial: number;
}

/**
 * Writes that could not reach the hardware yet: the latest value per register, in the order the
 * latest values were asked for (a newer value for a register moves it to the end).
 */
export class PendingWrites {
  private writes = new Map<string, PendingWrite>();

  get size(): number {
    return this.writes.size;
  }

  get(register: string): PendingWrite | undefined {
    return this.writes.get(register);
  }

  /** Keeps `write`, replacing any older one for its register. */
  set(write: PendingWrite): void {
    this.writes.delete(write.register.name);
    this.writes.set(write.register.name, write);
  }

  delete(register: string): void {
    this.writes.delete(register);
  }

  /** Removes and returns every pending write, oldest first. */
  takeAll(): PendingWrite[] {
    const all = [...this.writes.values()];
    this.writes.clear();
    return all;
  }

  /** Removes and returns the oldest pending write. */
  takeOldest(): PendingWrite | undefined {
    const oldest = this.writes.values().next().value;
    if (oldest) this.writes.delete(oldest.register.name);
    return oldest;
  }

  /**
   * Puts back writes taken by `takeAll` or `takeOldest` that could not be written, ahead of the ones added since; a
   * register that has a newer pending write keeps the newer one.
   */
  restore(writes: readonly PendingWrite[]): void {
    const restored = new Map<string, PendingWrite>();
    for (const write of writes)
      if (!this.writes.has(write.register.name)) restored.set(write.register.name, write);
    for (const [name, write] of this.writes) restored.set(name, write);
    this.writes = restored;
  }

  /** Name → value, oldest first. */
  snapshot(): ReadonlyMap<string, HardwareValue> {
    return new Map([...this.writes].map(([name, write]) => [name, write.value]));
  }
}
