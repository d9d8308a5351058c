/**
 * `engine-link`: the whole public API in one import: the engine's side (`engine-link/engine`), the
 * aggregator's (`engine-link/aggregator`) and the hardware's (`engine-link/hardware`). A program that is
 * only an engine imports `engine-link/engine`, which does not load SQLite. The state machines are
 * `engine-link/machines`; the OPC UA hardware layer is `engine-link/opcua`.
 *
 * @module engine-link
 */
export * from './aggregator/index.ts';
export * from './engine/index.ts';
export * from './hardware/index.ts';
export type { WebSocketInspectorAdapterOptions } from './inspect/inspectorOptions.ts';
export {
  createMachineInspector,
  type InspectFunction,
  type MachineInspector,
} from './inspect/machineInspector.ts';
