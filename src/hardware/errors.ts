import type { HardwareRecoveryState } from '../../machines/hardwareRecovery.ts';
import { canRead, canWrite, type HardwareRegister } from './register.ts';

/** A fault of the hardware or of the link to it. Concrete hardware layers reject with it. */
export class HardwareError extends Error {
  override readonly name = 'HardwareError';
}

/**
 * The hardware layer is set up wrong: an address the device does not have, a register direction or
 * type the device refuses, credentials it rejects. Not a fault of the hardware or of its link: trying
 * again cannot help, so it is reported at once and never masked (`HardwareRecovery` passes it on).
 */
export class HardwareConfigurationError extends Error {
  override readonly name = 'HardwareConfigurationError';

  constructor(
    message: string,
    /** The registers concerned (empty when the whole layer is: an endpoint, credentials). */
    readonly registers: readonly string[] = [],
    /** The device's or protocol's own name for the problem, such as an OPC UA status code. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Reading a register that cannot be read, or writing one that cannot be written: a bug, never masked. */
export class RegisterDirectionError extends TypeError {
  override readonly name = 'RegisterDirectionError';

  constructor(
    readonly register: string,
    readonly operation: 'read' | 'write',
  ) {
    super(`register '${register}' cannot be ${operation === 'read' ? 'read' : 'written'}`);
  }
}

export function requireDirection(register: HardwareRegister, operation: 'read' | 'write'): void {
  if (!(operation === 'read' ? canRead(register) : canWrite(register)))
    throw new RegisterDirectionError(register.name, operation);
}

/** What was being done when hardware failed or was unavailable. */
export type HardwareOperation = 'read' | 'write' | 'command' | 'connect';

/**
 * What a `HardwareUnavailableError` tells: the operation, the register, the recovery state and since when.
 */
export interface HardwareUnavailableDetails {
  /** The hardware layer's name (`HardwareRecoveryOptions.name`). */
  hardware: string;
  operation: HardwareOperation;
  /** The recovery state that refused the operation. */
  state: HardwareRecoveryState;
  /** The registers read or written (empty for commands and connects). */
  registers?: readonly string[];
  /** The command's name, for `operation: 'command'`. */
  command?: string;
  /** The hardware fault that was not masked, if any. */
  cause?: unknown;
}

/**
 * The hardware cannot be used in the recovery's current state: reads and writes in `disconnected` and
 * `error`, commands that need the hardware anywhere but `ok`. Not masked: the engine sees it.
 */
export class HardwareUnavailableError extends Error {
  override readonly name = 'HardwareUnavailableError';
  readonly hardware: string;
  readonly operation: HardwareOperation;
  readonly state: HardwareRecoveryState;
  readonly registers: readonly string[];
  readonly command: string | undefined;

  constructor(details: HardwareUnavailableDetails) {
    const registers = details.registers ?? [];
    super(describe(details, registers), details.cause === undefined ? undefined : { cause: details.cause });
    this.hardware = details.hardware;
    this.operation = details.operation;
    this.state = details.state;
    this.registers = registers;
    this.command = details.command;
  }

  /** The first register concerned (the only one for read and write). */
  get register(): string | undefined {
    return this.registers[0];
  }
}

const WHY: Record<HardwareRecoveryState, string> = {
  disconnected: 'not connected',
  ok: 'connected',
  issue: 'faults are masked while it recovers',
  reconnect: 'reconnecting; faults are masked',
  error: 'reconnecting has not succeeded; faults are no longer masked',
};

function describe(details: HardwareUnavailableDetails, registers: readonly string[]): string {
  const what =
    details.operation === 'command'
      ? `command '${details.command ?? '?'}' needs the hardware`
      : details.operation === 'connect'
        ? 'connect was abandoned'
        : `cannot ${details.operation} ${registers.map((r) => `'${r}'`).join(', ')}`;
  return `${what}: hardware '${details.hardware}' is in state ${details.state} (${WHY[details.state]})`;
}
