import type { EngineView } from '../session/engineView.ts';
import type { FleetEngineRow, FleetLinkChange, FleetRegistry } from '../store/fleetRegistry.ts';
import type { EngineSummary } from '../store/recordStore.ts';

/** An engine another node holds: where that node's API answers. */
export interface RemoteOwner {
  node: string;
  url: string | null;
}

/**
 * What one node knows of the whole fleet, so that any node answers for every engine: each engine's owner
 * and link as published (read from the database every refresh, and kept current between refreshes by the
 * owners' messages) and its tally as stored. `merge` shows this node's own engines from their sessions
 * and the others' from here, each with its owning node.
 */
export class FleetDirectory {
  private rows = new Map<string, FleetEngineRow>();
  private summaries = new Map<string, EngineSummary>();

  constructor(
    private readonly registry: FleetRegistry,
    private readonly nodeId: string,
    private readonly engineSummaries: () => Promise<EngineSummary[]>,
  ) {}

  /** Reads owners, links and tallies again from the database. */
  async refresh(): Promise<void> {
    const [rows, summaries] = await Promise.all([this.registry.engines(), this.engineSummaries()]);
    this.rows = new Map(rows.map((row) => [row.engineId, row]));
    this.summaries = new Map(summaries.map((summary) => [summary.engineId, summary]));
  }

  /**
   * Another node's link change: kept (and true answered: to be told to this node's listeners) when it
   * comes from the engine's owner, when no node holds the engine, or when it says the engine is available
   * or catching up there (that node took it over).
   */
  heard(change: FleetLinkChange): boolean {
    if (change.node === this.nodeId) return false;
    const row = this.rows.get(change.engineId) ?? {
      engineId: change.engineId,
      owner: change.node,
      ownerUrl: null,
      link: null,
    };
    // A node tells of an engine available or catching up only once it holds its lease: a takeover this
    // node has not read yet. Any other word from a node that does not hold the engine is stale.
    const taken = change.link === 'available' || change.link === 'catching-up';
    if (!taken && row.owner !== null && row.owner !== change.node) return false;
    if (taken) row.owner = change.node;
    row.link = change;
    this.rows.set(change.engineId, row);
    return true;
  }

  /** The node holding the engine when it is another one (as last read). */
  ownerElsewhere(engineId: string): RemoteOwner | undefined {
    const row = this.rows.get(engineId);
    if (!row?.owner || row.owner === this.nodeId) return undefined;
    return { node: row.owner, url: row.ownerUrl };
  }

  /** Whether the fleet knows the engine. */
  knows(engineId: string): boolean {
    return this.rows.has(engineId);
  }

  /**
   * Every engine of the fleet: those `held` here from their sessions (`local`), the others as their owner
   * published them (or offline, as stored, when no node holds them), each with its node.
   */
  merge(local: readonly EngineView[], held: ReadonlySet<string>): EngineView[] {
    const out = new Map<string, EngineView>();
    for (const view of local) out.set(view.id, this.withNode(view, held));
    for (const id of this.rows.keys()) if (!out.has(id)) out.set(id, this.remote(id)!);
    return [...out.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** One engine, as `merge` shows it (undefined: unknown here and to the fleet). */
  one(engineId: string, local: EngineView | undefined, held: ReadonlySet<string>): EngineView | undefined {
    return local ? this.withNode(local, held) : this.remote(engineId);
  }

  private withNode(view: EngineView, held: ReadonlySet<string>): EngineView {
    if (held.has(view.id)) return { ...view, node: this.nodeId };
    return this.remote(view.id, view) ?? { ...view, node: null };
  }

  /** The engine as the fleet knows it (another node's, or nobody's), over what this node knows of it. */
  private remote(engineId: string, known?: EngineView): EngineView | undefined {
    const row = this.rows.get(engineId);
    if (!row) return known && { ...known, node: null };
    // A tally heard since the last refresh is newer than the one read then.
    const summary = row.link?.tally
      ? { ...row.link.tally, lastSeenAt: this.summaries.get(engineId)?.lastSeenAt ?? null }
      : this.summaries.get(engineId);
    // The owner's word; with no owner, the last word published (the last owner's, as it let the engine go).
    const link =
      row.owner === null ? (row.link ?? undefined) : row.link?.node === row.owner ? row.link : undefined;
    const persistedSeq = Math.max(summary?.persistedSeq ?? 0, known?.persistedSeq ?? 0);
    return {
      id: engineId,
      link: link?.link ?? (row.owner === null ? (known?.link ?? 'offline') : 'unavailable'),
      since: link?.since ?? known?.since ?? summary?.lastSeenAt ?? 0,
      epoch: summary?.epoch ?? known?.epoch ?? null,
      persistedSeq,
      targetSeq: Math.max(persistedSeq, known?.targetSeq ?? 0),
      persistedCount: Math.max(summary?.persistedCount ?? 0, known?.persistedCount ?? 0),
      duplicatesIgnored: summary?.duplicatesIgnored ?? known?.duplicatesIgnored ?? 0,
      gaps: known?.gaps ?? [],
      lastSeenAt: summary?.lastSeenAt ?? known?.lastSeenAt ?? null,
      node: row.owner,
    };
  }
}
