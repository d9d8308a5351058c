import type { HardwareRecovery } from '../hardware/hardwareRecovery.ts';
import type { HardwareRegister, HardwareValue } from '../hardware/register.ts';
import { SimulatedHardware } from '../hardware/simulatedHardware.ts';
import { INVARIANTS, type Violations } from './violations.ts';

export const HARDWARE_REGISTERS = [
  { name: 'setpoint', direction: 'readWrite', value: 0 },
  { name: 'valve', direction: 'readWrite', value: 0 },
  { name: 'temperature', direction: 'read', value: 20 },
] as const;

/**
 * The simulated device, watched: a value that the recovery once held as a pending write must reach the
 * device only while the recovery is in `ok` (README: pending writes are written when the link next
 * enters ok). The simulation notes the pending writes after every step (`notePending`); values written
 * are unique, so a write is known to be a pending one by its value.
 */
export class WatchedHardware extends SimulatedHardware {
  recovery: HardwareRecovery | undefined;
  private readonly pendingSeen = new Set<string>();
  pendingFlushed = 0;

  constructor(
    private readonly engineId: string,
    private readonly violations: Violations,
  ) {
    super(
      HARDWARE_REGISTERS.map((register) => ({ ...register })),
      { connected: false },
    );
  }

  /** Remembers every write the recovery holds as pending now. */
  notePending(): void {
    for (const [register, value] of this.recovery?.pendingWrites ?? [])
      this.pendingSeen.add(`${register}=${value}`);
  }

  override async write(value: HardwareValue, register: HardwareRegister): Promise<void> {
    const state = this.recovery?.machineState ?? 'disconnected';
    await super.write(value, register);
    this.written(state, [[register.name, value]]);
  }

  override async writeBatch(
    values: readonly HardwareValue[],
    registers: readonly HardwareRegister[],
  ): Promise<void> {
    const state = this.recovery?.machineState ?? 'disconnected';
    await super.writeBatch(values, registers);
    this.written(
      state,
      registers.map((register, i) => [register.name, values[i] ?? null]),
    );
  }

  private written(state: string, writes: Array<[string, HardwareValue]>): void {
    for (const [register, value] of writes) {
      if (!this.pendingSeen.delete(`${register}=${value}`)) continue;
      this.pendingFlushed++;
      if (!state.startsWith('ok'))
        this.violations.report(
          INVARIANTS.pendingWriteOutsideOk,
          `${this.engineId}: pending write ${register}=${value} reached the hardware in ${state}`,
        );
    }
  }
}
