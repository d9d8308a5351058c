/**
 * engine-link's OPC UA hardware layer (the `engine-link/opcua` entry): the only part of engine-link
 * that loads node-opcua, an optional peer dependency. Engines without OPC UA never import it; the CLI
 * loads it with `import()` only for `engine --opcua` and `opcua-sim`.
 *
 * @module engine-link/opcua
 */
export { HardwareConfigurationError } from '../errors.ts';
export { type OpcUaLogSink, routeOpcUaLogs } from './logs.ts';
export type { OpcUaLinkState } from './opcUaConnection.ts';
export {
  OpcUaHardwareLayer,
  type OpcUaHardwareLayerEvents,
  type OpcUaHardwareLayerOptions,
} from './opcUaHardwareLayer.ts';
export type { OpcUaRegister } from './opcUaRegisters.ts';
export {
  OPCUA_SECURITY_MODES,
  OPCUA_SECURITY_POLICIES,
  type OpcUaIdentity,
  type OpcUaSecurityMode,
  type OpcUaSecurityOptions,
  type OpcUaSecurityPolicy,
} from './security.ts';
export {
  OpcUaSimServer,
  type OpcUaSimServerOptions,
  SIM_NAMESPACE_URI,
  SIM_TAGS,
  type SimTag,
  type SimUser,
  type SimWrite,
  simNodeId,
} from './simServer.ts';
export { classifyStatusCode, OpcUaHardwareError, type StatusCodeKind } from './statusCodes.ts';
