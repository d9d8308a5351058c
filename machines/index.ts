/**
 * `engine-link/machines`: the state machines that decide what engine-link does, as pure XState v5
 * definitions (no I/O, no timers: time and I/O enter as events, effects leave as named actions that the
 * runtimes provide). Load them into the Stately inspector or editor, or walk them with `xstate/graph`.
 *
 * @module engine-link/machines
 */
export {
  type EngineLinkContext,
  type EngineLinkEvent,
  type EngineLinkMachine,
  engineLinkMachine,
} from './engineLink.ts';
export {
  type EngineSessionContext,
  type EngineSessionEvent,
  type EngineSessionMachine,
  engineSessionMachine,
} from './engineSession.ts';
export {
  type HardwareRecoveryContext,
  type HardwareRecoveryEvent,
  type HardwareRecoveryMachine,
  type HardwareRecoveryMachineState,
  type HardwareRecoveryState,
  hardwareRecoveryMachine,
} from './hardwareRecovery.ts';
export { type OfflineWatchEvent, type OfflineWatchMachine, offlineWatchMachine } from './offlineWatch.ts';
export {
  REASON_ENGINE_LOST,
  REASON_ENGINE_RESTARTED,
  REASON_NOT_RUNNING,
  type RunReconciliationContext,
  type RunReconciliationEvent,
  type RunReconciliationMachine,
  type RunState,
  runReconciliationMachine,
} from './runReconciliation.ts';
export { stateName } from './stateName.ts';
