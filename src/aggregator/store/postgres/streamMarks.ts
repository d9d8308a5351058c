import { type Queryable, query } from './postgresConnection.ts';
import type { TransactionScope } from './transactionScope.ts';

/** A stream's row id and high-water mark. */
export interface StreamMark {
  id: number;
  mark: number;
}

/**
 * The high-water marks this aggregator knows, so that a frame is checked and sorted without a round trip:
 * committed ones here, and each open transaction's own (streams it created, marks it moved) in its scope
 * until it commits. A mark another writer moved since is caught by the compare-and-set when the batch is
 * written (StreamMovedError), and then forgotten here, to be read again.
 */
export class StreamMarks {
  private readonly committed = new Map<string, StreamMark>();
  /** Each open scope's own marks. */
  private readonly pending = new WeakMap<TransactionScope, Map<string, StreamMark>>();

  /** The stream's mark as the scope sees it; read from the database when not known. */
  async get(
    sql: Queryable,
    scope: TransactionScope | undefined,
    engineId: string,
    epoch: string,
  ): Promise<StreamMark | undefined> {
    const key = streamKey(engineId, epoch);
    for (let s = scope; s; s = s.parent) {
      const own = this.pending.get(s)?.get(key);
      if (own) return own;
    }
    const known = this.committed.get(key);
    if (known) return known;
    const [row] = await query<{ id: number; high_water: number }>(
      sql,
      'SELECT id, high_water FROM streams WHERE engine_id = $1 AND epoch = $2',
      [engineId, epoch],
    );
    if (!row) return undefined;
    const read = { id: row.id, mark: row.high_water };
    // Inside a transaction the row may be one this transaction wrote: kept with the scope until it commits.
    if (scope) this.set(scope, engineId, epoch, read);
    else this.committed.set(key, read);
    return read;
  }

  /** Sets the stream's mark within `scope` (committed with it). */
  set(scope: TransactionScope, engineId: string, epoch: string, mark: StreamMark): void {
    this.pendingOf(scope).set(streamKey(engineId, epoch), mark);
  }

  /** A savepoint was released: its marks are its parent's. */
  release(scope: TransactionScope): void {
    const own = this.pending.get(scope);
    if (own) for (const [key, mark] of own) this.pendingOf(scope.parent!).set(key, mark);
  }

  /** The outermost transaction committed: its marks are the committed ones. */
  commit(scope: TransactionScope): void {
    const own = this.pending.get(scope);
    if (own) for (const [key, mark] of own) this.committed.set(key, mark);
  }

  /** Another writer moved these streams: read them again next time. */
  forget(streams: ReadonlyArray<{ engineId: string; epoch: string }>): void {
    for (const s of streams) this.committed.delete(streamKey(s.engineId, s.epoch));
  }

  /** A commit's outcome is unknown (the connection was lost): every mark is read again next time. */
  forgetAll(): void {
    this.committed.clear();
  }

  private pendingOf(scope: TransactionScope): Map<string, StreamMark> {
    let own = this.pending.get(scope);
    if (!own) {
      own = new Map();
      this.pending.set(scope, own);
    }
    return own;
  }
}

function streamKey(engineId: string, epoch: string): string {
  return `${engineId}\n${epoch}`;
}
