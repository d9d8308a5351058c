/**
 * A register of a hardware layer: a named value the engine reads, writes, or both.
 */
export type RegisterDirection = 'read' | 'write' | 'readWrite';

/** What a register holds. `null` is "no value" (a masked read with no last-known-good value returns it). */
export type HardwareValue = number | string | boolean | null;

/**
 * A register of a hardware layer: its name, whether it is read, written or both, and its tolerance for
 * unchanged-value filtering.
 */
export interface HardwareRegister {
  readonly name: string;
  readonly direction: RegisterDirection;
  /**
   * Two numbers written to this register that differ by at most this much count as the same value for
   * the recovery's unchanged-value filter. Default: the recovery's `floatTolerance`.
   */
  readonly tolerance?: number;
}

export function canRead(register: HardwareRegister): boolean {
  return register.direction === 'read' || register.direction === 'readWrite';
}

export function canWrite(register: HardwareRegister): boolean {
  return register.direction === 'write' || register.direction === 'readWrite';
}
