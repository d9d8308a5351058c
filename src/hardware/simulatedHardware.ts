import { HardwareError, requireDirection } from './errors.ts';
import type { HardwareLayer } from './hardwareLayer.ts';
import type { HardwareRegister, HardwareValue } from './register.ts';

/** A register of the simulated device, with the value it holds at first (default null). */
export interface SimulatedRegister extends HardwareRegister {
  readonly value?: HardwareValue;
}

/** Options of `SimulatedHardware`. */
export interface SimulatedHardwareOptions {
  /** Start connected. Default false. */
  connected?: boolean;
}

/** How many times each method was called (failed calls included). */
export interface HardwareCallCounts {
  connect: number;
  disconnect: number;
  read: number;
  readBatch: number;
  write: number;
  writeBatch: number;
}

interface HeldConnect {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * An in-memory device for tests and demos. Its registers hold values; reads, writes and connects fail
 * with a `HardwareError` on demand (`failReads`, `failWrites`, `failConnects`, or `breakLink()` for
 * all three); connects can be held open and settled by hand (`holdConnects`, `releaseConnects`), so a
 * test can look at the moment a connect is under way. It counts every call and logs every write that
 * succeeded, so tests can assert that nothing touched the hardware.
 */
export class SimulatedHardware implements HardwareLayer {
  readonly registers: ReadonlyMap<string, HardwareRegister>;
  readonly calls: HardwareCallCounts = {
    connect: 0,
    disconnect: 0,
    read: 0,
    readBatch: 0,
    write: 0,
    writeBatch: 0,
  };
  /** Every value written successfully, in order. */
  readonly writeLog: Array<{ register: string; value: HardwareValue }> = [];
  failReads = false;
  failWrites = false;
  failConnects = false;

  private readonly values = new Map<string, HardwareValue>();
  private connected: boolean;
  private holding = false;
  private held: HeldConnect[] = [];

  constructor(registers: readonly SimulatedRegister[], options: SimulatedHardwareOptions = {}) {
    const map = new Map<string, HardwareRegister>();
    for (const { value, ...register } of registers) {
      if (map.has(register.name)) throw new TypeError(`duplicate register '${register.name}'`);
      map.set(register.name, register);
      this.values.set(register.name, value ?? null);
    }
    this.registers = map;
    this.connected = options.connected ?? false;
  }

  /** Whether it is connected and its link not broken. */
  get isConnected(): boolean {
    return this.connected;
  }

  /** Reads, writes and connects all fail, as when a cable is pulled. */
  breakLink(): void {
    this.failReads = true;
    this.failWrites = true;
    this.failConnects = true;
  }

  /** Reads, writes and connects all succeed again. */
  repairLink(): void {
    this.failReads = false;
    this.failWrites = false;
    this.failConnects = false;
  }

  /** While holding, connect() waits for `releaseConnects` instead of settling by itself. */
  holdConnects(hold = true): void {
    this.holding = hold;
  }

  /** Connects waiting for `releaseConnects`. */
  get heldConnects(): number {
    return this.held.length;
  }

  /** Settles every held connect; returns how many there were. */
  releaseConnects(outcome: 'succeed' | 'fail'): number {
    const held = this.held.splice(0);
    for (const connect of held) {
      if (outcome === 'succeed') {
        this.connected = true;
        connect.resolve();
      } else {
        connect.reject(new HardwareError('simulated connect failure'));
      }
    }
    return held.length;
  }

  /** Reads and writes of registers, failed ones included. */
  get readWriteCalls(): number {
    return this.calls.read + this.calls.readBatch + this.calls.write + this.calls.writeBatch;
  }

  /** The value a register holds now (does not count as a read). */
  value(name: string): HardwareValue {
    this.register(name);
    return this.values.get(name) ?? null;
  }

  /** Changes a value on the device side (a sensor moving); does not count as a write. */
  setValue(name: string, value: HardwareValue): void {
    this.register(name);
    this.values.set(name, value);
  }

  /** Connects (fails while the link is broken or connects are made to fail). */
  async connect(): Promise<void> {
    this.calls.connect++;
    if (this.holding) return new Promise<void>((resolve, reject) => this.held.push({ resolve, reject }));
    if (this.failConnects) throw new HardwareError('simulated connect failure');
    this.connected = true;
  }

  /** Disconnects. */
  async disconnect(): Promise<void> {
    this.calls.disconnect++;
    this.connected = false;
  }

  /** Reads a register's value (fails while reads are made to fail or the link is broken). */
  async read(register: HardwareRegister): Promise<HardwareValue> {
    this.calls.read++;
    return this.readNow(register);
  }

  async readBatch(registers: readonly HardwareRegister[]): Promise<HardwareValue[]> {
    this.calls.readBatch++;
    return registers.map((register) => this.readNow(register));
  }

  /** Writes a register's value (fails while writes are made to fail or the link is broken). */
  async write(value: HardwareValue, register: HardwareRegister): Promise<void> {
    this.calls.write++;
    this.checkWrite(register);
    this.writeNow(value, register);
  }

  async writeBatch(values: readonly HardwareValue[], registers: readonly HardwareRegister[]): Promise<void> {
    this.calls.writeBatch++;
    if (values.length !== registers.length)
      throw new RangeError(`writeBatch: ${values.length} values for ${registers.length} registers`);
    for (const register of registers) this.checkWrite(register);
    registers.forEach((register, i) => {
      this.writeNow(values[i]!, register);
    });
  }

  private readNow(register: HardwareRegister): HardwareValue {
    this.register(register.name);
    requireDirection(register, 'read');
    if (!this.connected) throw new HardwareError('simulated hardware is not connected');
    if (this.failReads) throw new HardwareError(`simulated read failure: ${register.name}`);
    return this.values.get(register.name) ?? null;
  }

  private checkWrite(register: HardwareRegister): void {
    this.register(register.name);
    requireDirection(register, 'write');
    if (!this.connected) throw new HardwareError('simulated hardware is not connected');
    if (this.failWrites) throw new HardwareError(`simulated write failure: ${register.name}`);
  }

  private writeNow(value: HardwareValue, register: HardwareRegister): void {
    this.values.set(register.name, value);
    this.writeLog.push({ register: register.name, value });
  }

  private register(name: string): HardwareRegister {
    const register = this.registers.get(name);
    if (!register) throw new TypeError(`unknown register '${name}'`);
    return register;
  }
}
