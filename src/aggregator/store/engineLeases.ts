/**
 * Which aggregator of a fleet owns each engine: a lease per engine in the shared store (PostgreSQL),
 * in database time, with a fencing epoch that grows on every takeover. Only a store opened for a fleet
 * (`PostgresStore.open(url, { fleet })`) has leases; a store without them is one aggregator's alone.
 *
 * The owner acquires the lease when it admits the engine (the hello's transaction), renews all its leases
 * on a schedule, and releases the lease when the engine's link ends. Every ingest transaction checks the
 * lease (holder and epoch, not expired) beside the high-water marks: a node that lost an engine can never
 * store, so never acknowledge, anything for it again (`LeaseLostError`, the transaction rolled back).
 */
export interface EngineLeases {
  /** This node's id, as the fleet shows it. */
  readonly nodeId: string;
  /** How long a lease lasts without renewal (ms). */
  readonly leaseMs: number;
  /**
   * Takes the engine's lease in the open transaction (or one of its own): a lease this node holds is
   * extended, an expired or released one is taken over (its epoch grows). Rejects with `LeaseHeldError`
   * when another node holds it. Resolves with the epoch held, and the node that held it last when that was
   * another run of a node (whose writes this node has not seen).
   */
  acquire(engineId: string): Promise<LeaseGrant>;
  /** Gives the lease up (expires it now, its epoch kept): another node may take the engine at once. */
  release(engineId: string): Promise<void>;
  /**
   * Renews every lease held (one statement, in the open transaction if any: the aggregator renews in its
   * pipeline, so that renewals and the ingest transactions' share locks on the leases never wait for each
   * other): answers the engines whose lease was lost (taken over, or expired before the renewal reached
   * the database); those are forgotten.
   */
  renew(): Promise<{ lost: string[] }>;
  /** Engines whose lease this node holds (as far as it knows). */
  held(): string[];
  /** Stops holding these engines (their link is gone, or the lease lapsed): nothing more is stored for them. */
  forget(engineIds: readonly string[]): void;
  /** Told when the store finds, in an ingest transaction, that leases were lost. */
  onLost(listener: (engineIds: string[]) => void): void;
  /** Who owns which engine now (live leases only), read from the database. */
  owners(): Promise<Map<string, string>>;
}

/** A lease taken: its fencing epoch, and the node it was taken from (null: none, or this very run). */
export interface LeaseGrant {
  epoch: number;
  from: string | null;
}

/** Another node holds the engine's lease: refuse the engine, and ask it to come back after `retryAfterMs`. */
export class LeaseHeldError extends Error {
  override readonly name = 'LeaseHeldError';
  constructor(
    readonly engineId: string,
    readonly node: string,
    readonly retryAfterMs: number,
  ) {
    super(
      `engine ${engineId} is held by aggregator node ${node} (its lease runs ${retryAfterMs} ms more): connect to that node, or again once its lease has run out`,
    );
  }
}

/**
 * The transaction stored something for engines whose lease this node no longer holds (another node took
 * them over, or the lease expired): nothing of the transaction is stored, nothing is acknowledged.
 */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
  constructor(readonly engineIds: readonly string[]) {
    super(
      `this aggregator node no longer holds the lease of engine ${engineIds.join(', ')}: nothing of this transaction is stored`,
    );
  }
}
