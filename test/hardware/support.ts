import { HardwareRecovery } from '../../src/hardware/hardwareRecovery.ts';
import type { HardwareRecoveryOptions } from '../../src/hardware/hardwareRecoveryOptions.ts';
import type { HardwareRegister } from '../../src/hardware/register.ts';
import { SimulatedHardware } from '../../src/hardware/simulatedHardware.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';

export const temperature: HardwareRegister = { name: 'temperature', direction: 'read' };
export const pressure: HardwareRegister = { name: 'pressure', direction: 'read' };
export const valve: HardwareRegister = { name: 'valve', direction: 'write' };
export const setpoint: HardwareRegister = { name: 'setpoint', direction: 'readWrite' };
export const pump: HardwareRegister = { name: 'pump', direction: 'readWrite' };

export const RECONNECT_AFTER_MS = 10_000;
export const ERROR_AFTER_MS = 5 * 60 * 60 * 1000;

/** A simulated device with five registers, wrapped in a recovery on a simulated clock (not connected yet). */
export function setup(options: HardwareRecoveryOptions = {}, hardware = simulatedDevice()) {
  const clock = new SimulatedClock();
  const recovery = new HardwareRecovery(hardware, { name: 'reactor', clock, ...options });
  return { clock, hardware, recovery };
}

export function simulatedDevice(connected = false): SimulatedHardware {
  return new SimulatedHardware(
    [
      { ...temperature, value: 21.5 },
      { ...pressure, value: 1.2 },
      { ...valve, value: false },
      { ...setpoint, value: 0 },
      { ...pump, value: 'off' },
    ],
    { connected },
  );
}

/** Connected, then the link broke under a read: the recovery is in issue. */
export async function inIssue(rt: ReturnType<typeof setup>): Promise<void> {
  await rt.recovery.connect();
  rt.hardware.breakLink();
  await rt.recovery.read(temperature);
  if (rt.recovery.state !== 'issue') throw new Error(`expected issue, got ${rt.recovery.state}`);
}

/** In reconnect: the issue lasted `reconnectAfterMs`. */
export async function inReconnect(rt: ReturnType<typeof setup>, reconnectAfterMs = RECONNECT_AFTER_MS) {
  await inIssue(rt);
  await rt.clock.advance(reconnectAfterMs);
  if (rt.recovery.state !== 'reconnect') throw new Error(`expected reconnect, got ${rt.recovery.state}`);
}
