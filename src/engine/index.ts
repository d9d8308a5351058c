/**
 * `engine-link/engine`: what an engine process embeds. A {@link ResilientDispatcher} takes the engine's
 * records, keeps them in an outbox (memory or disk) until the aggregator has stored them, and keeps its
 * link to the aggregator up through outages. Loads neither SQLite nor the aggregator.
 *
 * @module engine-link/engine
 */
export type { EngineRecord, GapReason, Json, SampleValue } from '../protocol/records.ts';
export { GAP_REASONS, InvalidRecordError } from '../protocol/records.ts';
export { type Clock, systemClock, type TimerHandle } from '../time/clock.ts';
export { SimulatedClock } from '../time/simulatedClock.ts';
export {
  FailoverConnector,
  type FailoverConnectorOptions,
  type FailoverTarget,
  webSocketConnectorFor,
} from '../transport/failoverConnector.ts';
export { MemoryNetwork, type MemoryNetworkOptions } from '../transport/memoryTransport.ts';
export type { Connector } from '../transport/sides.ts';
export { WebSocketConnector, type WebSocketConnectorOptions } from '../transport/webSocketTransport.ts';
export type { BackoffOptions } from './backoff.ts';
export {
  type CommandAnswer,
  CommandError,
  type CommandHandler,
  type EngineCommand,
} from './commands.ts';
export type { EngineDispatcher } from './dispatcher.ts';
export { ENGINE_DEFAULTS } from './engineDefaults.ts';
export { EngineMetrics, type EngineMetricsOptions } from './engineMetrics.ts';
export {
  DurableOutbox,
  type DurableOutboxOptions,
  type OutboxRecovery,
  type SyncPolicy,
} from './outbox/durable/durableOutbox.ts';
export { MemoryOutbox } from './outbox/memoryOutbox.ts';
export type {
  BackpressureInfo,
  GapInfo,
  Outbox,
  OutboxBatch,
  OutboxEvents,
  StorageInfo,
  SyncInfo,
} from './outbox/outbox.ts';
export {
  DURABLE_OUTBOX_DEFAULTS,
  MEMORY_OUTBOX_DEFAULTS,
  type OutboxLimits,
} from './outbox/outboxDefaults.ts';
export type { OutboxOption } from './outbox/outboxFor.ts';
export { ResilientDispatcher } from './resilientDispatcher.ts';
export {
  AuthRejectedError,
  type DispatcherStats,
  ENGINE_LINK_STATES,
  type EngineLinkState,
  type OfflineInfo,
  type ResilientDispatcherEvents,
  type ResilientDispatcherOptions,
  type RetryInfo,
} from './resilientDispatcherOptions.ts';
export { RunTracker } from './runTracker.ts';
export {
  SIMULATED_COMMANDS,
  SimulatedEngine,
  type SimulatedEngineOptions,
  type SimulatedRunEvent,
} from './simulatedEngine.ts';
