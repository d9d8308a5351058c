import type { HardwareValue } from './register.ts';

/**
 * The last value read successfully from each register: what a masked read returns while the hardware is
 * away. A register never read has none (null), which is reported once per register and episode.
 */
export class LastKnownGood {
  private readonly values = new Map<string, HardwareValue>();
  private readonly reportedWithoutValue = new Set<string>();

  remember(register: string, value: HardwareValue): void {
    this.values.set(register, value);
    this.reportedWithoutValue.delete(register);
  }

  /** The value standing in for a failed read, and whether this is the first time there is none to report. */
  standIn(register: string): { value: HardwareValue; report: boolean } {
    if (this.values.has(register)) return { value: this.values.get(register)!, report: false };
    const report = !this.reportedWithoutValue.has(register);
    this.reportedWithoutValue.add(register);
    return { value: null, report };
  }

  /** Masking stops (error, disconnected): the values are too old to stand in for anything. */
  forget(): void {
    this.values.clear();
    this.reportedWithoutValue.clear();
  }
}
