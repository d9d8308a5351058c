import type { RecordStore, StoredRecord } from '../aggregator/store/recordStore.ts';
import type { EngineAccount } from './engineAccount.ts';
import { INVARIANTS, type Violations } from './violations.ts';

/** Whether a stored record is the item the engine numbered (same kind, key, time, value and unit). */
function sameRecord(item: string, stored: StoredRecord): boolean {
  const parsed = JSON.parse(item) as [string, string, number, unknown, unknown?];
  const [tag, key, t, value, unit] = parsed;
  const kind = tag === 's' ? 'sample' : tag === 'st' ? 'state' : tag === 'e' ? 'event' : undefined;
  return (
    kind === stored.kind &&
    key === stored.key &&
    t === stored.t &&
    JSON.stringify(value ?? null) === JSON.stringify(stored.value ?? null) &&
    (tag !== 's' || (unit ?? undefined) === (stored.unit ?? undefined))
  );
}

/**
 * Checks the store against an engine's account, from the last point checked up to `upTo` (an
 * acknowledged sequence number): every sequence number is there once, as the engine numbered it, or
 * inside a gap stored for the stream that the engine itself reported. What is checked is forgotten, so
 * the account stays small however long the simulation runs.
 */
export function auditStream(
  store: RecordStore,
  account: EngineAccount,
  epoch: string,
  upTo: number,
  violations: Violations,
): void {
  const stream = account.epoch(epoch);
  if (upTo <= stream.verified) return;
  const engineId = account.engineId;
  const rows = store
    .records(engineId, { epoch, afterSeq: stream.verified, limit: upTo - stream.verified })
    .filter((row) => row.seq <= upTo);
  const gaps = store.gaps(engineId).filter((gap) => gap.epoch === epoch && gap.toSeq > stream.verified);
  let row = 0;
  for (let seq = stream.verified + 1; seq <= upTo; seq++) {
    const stored = rows[row]?.seq === seq ? rows[row++] : undefined;
    const where = `${engineId} epoch ${epoch} seq ${seq}`;
    if (stored) {
      const item = stream.items.get(seq);
      if (item === undefined)
        violations.report(
          INVARIANTS.exactlyOnce,
          `${where}: stored ${JSON.stringify(stored)}, but the engine never numbered a record ${seq} (it numbered up to ${stream.lastSeq}; gaps ${JSON.stringify(stream.gaps)})`,
        );
      else if (!sameRecord(item, stored))
        violations.report(
          INVARIANTS.exactlyOnce,
          `${where}: stored ${JSON.stringify(stored)}, the engine numbered ${item}`,
        );
    } else if (!gaps.some((gap) => gap.fromSeq <= seq && seq <= gap.toSeq))
      violations.report(
        INVARIANTS.exactlyOnce,
        `${where}: acknowledged (up to ${upTo}) but neither stored nor a gap`,
      );
    else if (!account.reportedGap(epoch, seq))
      violations.report(
        INVARIANTS.gapsReported,
        `${where}: a gap in the store that the engine never reported`,
      );
    stream.items.delete(seq);
  }
  if (row < rows.length)
    violations.report(
      INVARIANTS.exactlyOnce,
      `${engineId} epoch ${epoch}: records out of order after seq ${stream.verified}`,
    );
  stream.verified = upTo;
}
