/**
 * Whether the store can commit now. SQLite, in the aggregator's own process, always can; a PostgreSQL
 * server can go away (PostgresAvailability). While the store is unavailable the group commit holds its
 * groups (nothing is acknowledged, the engines' links stay up and their frames wait in their outboxes),
 * and it commits them once the store is back; /healthz, the dashboard and the log say so.
 */
export interface StoreAvailability {
  readonly available: boolean;
  /** Why it is unavailable (the last connection error), while it is. */
  readonly reason: string | undefined;
  /** Resolves once the store is available (at once when it is). */
  whenAvailable(): Promise<void>;
  /** Whether `error` (a failed transaction's) means the store went away, rather than a refusal of the work. */
  isOutage(error: unknown): boolean;
  /** Says that the store went away (`error`): it is unavailable until it answers again. */
  lost(error: unknown): void;
  /** Called on every change, with the new state. */
  onChange(listener: (available: boolean, reason: string | undefined) => void): void;
}

/** A store that is always there (SQLite). */
export const ALWAYS_AVAILABLE: StoreAvailability = {
  available: true,
  reason: undefined,
  whenAvailable: () => Promise.resolve(),
  isOutage: () => false,
  lost: () => {},
  onChange: () => {},
};
