import type { HardwareRegister, HardwareValue } from './register.ts';

/**
 * The engine's access to one piece of hardware (or one bus of it). Concrete layers talk to devices;
 * `HardwareRecovery` decorates any of them with fault recovery and implements this same interface, so
 * engine code does not change when recovery is added.
 *
 * A concrete layer signals a fault of the hardware or of its link (timeout, lost connection, device
 * error) by rejecting with a `HardwareError`. A setup the hardware refuses (an address it does not have,
 * credentials it rejects) is a `HardwareConfigurationError`. Any error other than a `HardwareError` is
 * passed through, never masked.
 */
export interface HardwareLayer {
  /** The registers this layer offers, by name. */
  readonly registers: ReadonlyMap<string, HardwareRegister>;
  /** Whether the layer holds a working connection to its hardware. */
  readonly isConnected: boolean;
  /** Opens the connection to the hardware (rejects with a `HardwareError` when it cannot). */
  connect(): Promise<void>;
  /** Closes the connection. */
  disconnect(): Promise<void>;
  /** Reads one register. */
  read(register: HardwareRegister): Promise<HardwareValue>;
  /** One value per register, in the order given. */
  readBatch(registers: readonly HardwareRegister[]): Promise<HardwareValue[]>;
  /** Writes one register. */
  write(value: HardwareValue, register: HardwareRegister): Promise<void>;
  /** Writes `values[i]` to `registers[i]`, in order. */
  writeBatch(values: readonly HardwareValue[], registers: readonly HardwareRegister[]): Promise<void>;
}
