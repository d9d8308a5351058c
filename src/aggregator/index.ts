/**
 * `engine-link/aggregator`: the aggregator, its store and its HTTP side. An {@link Aggregator} on a
 * {@link SqliteStore} (or a {@link PostgresStore}) takes engines' links, stores their records exactly once and in order, and reports
 * which engines it can reach. Serve it on its own port with {@link startAggregatorServer}, or mount it in
 * a server of your own with {@link createAggregatorHandler}.
 *
 * @module engine-link/aggregator
 */

export { type DashboardRoutesOptions, dashboardRoutes } from '../dashboard/dashboardRoutes.ts';
export { ErrorCode } from '../protocol/errors.ts';
export type {
  EngineRecord,
  EventItem,
  GapItem,
  GapReason,
  Item,
  Json,
  SampleItem,
  StateItem,
  ThinnedSampleItem,
} from '../protocol/records.ts';
export { type Clock, systemClock, type TimerHandle } from '../time/clock.ts';
export { SimulatedClock } from '../time/simulatedClock.ts';
export {
  Aggregator,
  type AggregatorEvents,
  type AggregatorOptions,
  type CommandOutcome,
  type CommandOutcomeName,
  type CommandRefusal,
  type EngineAvailability,
  type EngineView,
  type EngineWithRun,
  type RunView,
  UnknownEngineError,
} from './aggregator.ts';
export { AGGREGATOR_DEFAULTS } from './aggregatorDefaults.ts';
export {
  type AggregatorHandler,
  type AggregatorHandlerOptions,
  createAggregatorHandler,
} from './aggregatorHandler.ts';
export { AggregatorMetrics, type AggregatorMetricsOptions } from './aggregatorMetrics.ts';
export type { EngineCredentialsOptions } from './auth/engineCredentials.ts';
export {
  type EngineTokens,
  engineTokens,
  hashToken,
  loadTokenFile,
  parseTokenFile,
  TokenFileError,
} from './auth/tokens.ts';
export type { EventStreamLimits } from './http/eventStreamSlots.ts';
export type { Route, RouteContext } from './http/router.ts';
export {
  type AggregatorServer,
  type AggregatorServerOptions,
  ListenError,
  startAggregatorServer,
} from './server.ts';
export type { EngineSessionEvents } from './session/engineView.ts';
export type { CommittedGroup } from './store/asyncGroupCommit.ts';
export type { AsyncRecordStore, AsyncRunStore, AsyncStore, AsyncTransactions } from './store/asyncStore.ts';
export type { PostgresConnectionOptions } from './store/postgres/postgresConnection.ts';
export type { FleetStoreOptions } from './store/postgres/postgresLeases.ts';
export { PostgresStore } from './store/postgres/postgresStore.ts';
export type {
  EngineSummary,
  IngestResult,
  RecordQuery,
  RecordStore,
  SampleWindow,
  StoredGap,
  StoredRecord,
  StoredRecordKind,
} from './store/recordStore.ts';
export { SequenceGapError } from './store/recordStore.ts';
export type { RunQuery, RunStore, StoredRun, StoredRunState } from './store/runStore.ts';
export { SqliteStore, type SqliteStoreOptions } from './store/sqliteStore.ts';
export type { Store, Transactions } from './store/store.ts';
export type { StoreAvailability } from './store/storeAvailability.ts';
export { StoreOpenError } from './store/storeFile.ts';
