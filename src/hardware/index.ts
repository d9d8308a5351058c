/**
 * `engine-link/hardware`: the hardware side of an engine. Wrap any {@link HardwareLayer} in
 * {@link HardwareRecovery} and the engine keeps running through hardware faults (last-known-good
 * values, pending writes, reconnects on a schedule); {@link reportHardwareState} shows its state on the
 * aggregator. The OPC UA layer is `engine-link/opcua` (it needs the optional peer dependency node-opcua).
 *
 * @module engine-link/hardware
 */

export type { HardwareRecoveryState } from '../../machines/hardwareRecovery.ts';
export {
  HardwareConfigurationError,
  HardwareError,
  type HardwareOperation,
  type HardwareUnavailableDetails,
  HardwareUnavailableError,
  RegisterDirectionError,
} from './errors.ts';
export type { HardwareLayer } from './hardwareLayer.ts';
export { HardwareRecovery } from './hardwareRecovery.ts';
export {
  type ConnectionStatus,
  HARDWARE_RECOVERY_DEFAULTS,
  type HardwareFault,
  type HardwareRecoveryCounters,
  type HardwareRecoveryEvents,
  type HardwareRecoveryOptions,
  type ReconnectResult,
} from './hardwareRecoveryOptions.ts';
export type { HardwareRegister, HardwareValue, RegisterDirection } from './register.ts';
export { type HardwareStateValue, reportHardwareState } from './reportHardwareState.ts';
export {
  type HardwareCallCounts,
  SimulatedHardware,
  type SimulatedHardwareOptions,
  type SimulatedRegister,
} from './simulatedHardware.ts';
