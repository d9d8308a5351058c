import type { Logger } from 'pino';
import type { Clock } from '../../time/clock.ts';
import { FleetRunLedger } from '../runs/fleetRunLedger.ts';
import type { RunLedgerOptions } from '../runs/runLedger.ts';
import type { EngineView } from '../session/engineView.ts';
import type { AsyncStore } from '../store/asyncStore.ts';
import type { EngineLeases } from '../store/engineLeases.ts';
import type { EngineSummary, StoredGap } from '../store/recordStore.ts';
import { type FleetEvents, FleetMembership } from './fleetMembership.ts';

/** What a node of a fleet needs of its aggregator. */
export interface FleetHost {
  store: AsyncStore;
  /** The run ledger's options (the node's ledger is a FleetRunLedger). */
  ledger: RunLedgerOptions;
  events: FleetEvents;
  clock: Clock;
  logger: Logger;
  renewMs: number;
  retryAfterMs(): number;
  /** Store work in the aggregator's pipeline. */
  pipeline<T>(work: () => Promise<T>): Promise<T>;
  localView(engineId: string): EngineView | undefined;
  /** The engine's session takes its tally as stored (the node just took the engine over). */
  restoreTally(engineId: string, summary: EngineSummary, gaps: StoredGap[]): void;
  /** Closes the links of engines that are no longer this node's. */
  letGo(engineIds: readonly string[], reason: string): void;
}

/** A node of a fleet: its membership, its run ledger, and the leases its sessions take and give up. */
export interface FleetNode {
  membership: FleetMembership;
  runs: FleetRunLedger;
  sessionLeases: Pick<EngineLeases, 'acquire' | 'release'>;
}

/**
 * Makes the aggregator on `host.store` a node of a fleet when the store has leases (PostgreSQL opened
 * for a fleet); undefined otherwise (one aggregator alone: nothing of this runs). A node that takes an
 * engine over from another (one whose writes it has not seen) adopts the engine's runs and tally as
 * stored, in the hello's transaction; a node that loses an engine forgets its runs and closes its link.
 */
export function joinFleet(host: FleetHost): FleetNode | undefined {
  const { store } = host;
  const leases = store.leases;
  const registry = store.fleet;
  if (!leases || !registry) return undefined;
  const runs = new FleetRunLedger(host.ledger, async () => new Set((await leases.owners()).keys()));
  const membership = new FleetMembership({
    leases,
    registry,
    events: host.events,
    engineSummaries: () => store.engineSummaries(),
    localView: host.localView,
    availability: store.availability,
    clock: host.clock,
    renewMs: host.renewMs,
    logger: host.logger,
    retryAfterMs: host.retryAfterMs,
    lost: (engineIds, reason) => {
      for (const engineId of engineIds) runs.forget(engineId);
      host.letGo(engineIds, reason);
    },
    sweep: () => runs.adoptOrphans(),
    pipeline: host.pipeline,
  });
  const adopt = async (engineId: string) => {
    await runs.adopt(engineId);
    const summary = store.engineSummary
      ? await store.engineSummary(engineId)
      : (await store.engineSummaries()).find((s) => s.engineId === engineId);
    if (summary) host.restoreTally(engineId, summary, await store.gaps(engineId));
  };
  const sessionLeases = {
    acquire: async (engineId: string) => {
      const grant = await leases.acquire(engineId);
      // Another node (or an earlier run of this one) held it: what it wrote is read back.
      if (grant.from !== null) await adopt(engineId);
      return grant;
    },
    release: (engineId: string) => leases.release(engineId),
  };
  return { membership, runs, sessionLeases };
}
