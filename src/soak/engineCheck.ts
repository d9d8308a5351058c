import type { EngineFinal } from './engineLines.ts';
import { compareRuns, expectedRuns, type Lifetime, type RunView } from './expectedRuns.ts';
import { countRuns, type EngineRow } from './soakReport.ts';
import { auditStore } from './storeAudit.ts';

/** What the aggregator's API shows of an engine (the fields checked). */
export interface EngineView {
  id: string;
  link: string;
  epoch: string | null;
  persistedSeq: number;
  persistedCount: number;
}

/** What is known of one engine's processes: what each printed, and its last process's final line. */
export interface EngineHistory {
  id: string;
  /** One per process, in order (see `Lifetime`). */
  lifetimes: readonly Lifetime[];
  /** The last process's final line (it was stopped with SIGTERM and drained). */
  final: EngineFinal | undefined;
  /** The last process's exit code on SIGTERM. */
  exitCode: number | null | undefined;
  /** Its outbox is durable: one epoch across every process. Otherwise each process has its own. */
  durable: boolean;
}

/**
 * Checks one engine against the aggregator's view, its runs and its store, record by record: every
 * sequence number of every epoch stored once or accounted for, nothing above it, no duplicate, samples
 * in time order, no gap; every run as the engine ran it (see `expectedRuns`). A process killed with a
 * memory outbox took its unacknowledged records with it: its epoch is checked up to what was persisted
 * (no hole below that), and its printed runs beyond it are not expected.
 */
export async function checkEngine(
  engine: EngineHistory,
  view: EngineView | undefined,
  runs: readonly RunView[],
  db: string,
): Promise<EngineRow> {
  const differences: string[] = [];
  const { final, lifetimes } = engine;
  if (!final) differences.push(`no final line (exit code ${engine.exitCode})`);
  else {
    if (engine.exitCode !== 0) differences.push(`exited with ${engine.exitCode} on SIGTERM`);
    if (final.backlog !== 0 || final.acked !== final.lastSeq)
      differences.push(`not drained: acked ${final.acked} of ${final.lastSeq}, backlog ${final.backlog}`);
    if (final.dropped !== 0) differences.push(`dropped ${final.dropped} records`);
  }
  const epochs = epochsOf(lifetimes);
  if (engine.durable && epochs.length > 1)
    differences.push(`epoch changed across restarts: ${epochs.map((e) => e.epoch).join(', ')}`);
  const lastEpoch = final?.epoch ?? epochs.at(-1)?.epoch ?? '';
  const totals = { produced: 0, persisted: 0, duplicates: 0, outOfOrder: 0, gaps: 0, resentIgnored: 0 };
  const expected: ReturnType<typeof expectedRuns>['runs'] = [];
  let storedEpochs = 0;
  for (const [i, { epoch, lives }] of epochs.entries()) {
    const finalHere = final?.epoch === epoch && i === epochs.length - 1;
    // Without a final line the epoch ended with a killed process: what it produced beyond what was
    // persisted went with it (a memory outbox), so the store's mark is the bound.
    const bound = finalHere ? final.lastSeq : (await auditStore(db, engine.id, epoch, 0)).highWater;
    const audit = await auditStore(db, engine.id, epoch, bound);
    storedEpochs = audit.epochs;
    const label = epochs.length > 1 ? `epoch ${epoch}: ` : '';
    if (audit.persisted !== bound)
      differences.push(`${label}${audit.persisted} records stored, ${bound} produced`);
    if (audit.missing > 0) differences.push(`${label}${audit.missing} sequence numbers missing`);
    if (audit.extra > 0) differences.push(`${label}${audit.extra} records above the last sequence number`);
    if (audit.duplicates > 0) differences.push(`${label}${audit.duplicates} records stored twice`);
    if (audit.outOfOrder > 0) differences.push(`${label}${audit.outOfOrder} samples out of order`);
    if (audit.gapRecords > 0)
      differences.push(`${label}${audit.gapRecords} gap records (${audit.gapCount} records lost)`);
    // An epoch that ends with a killed process ends in a restart with a new epoch: its last run, if
    // still going, was interrupted by that restart.
    const printed = lives.map((life) => ({ ...life, runs: life.runs.filter((run) => run.seq <= bound) }));
    const here = expectedRuns(printed, bound, audit.runEvents);
    expected.push(...here.runs);
    differences.push(
      ...here.problems.map((p) => `${label}${p}`),
      ...compareRuns(
        here.runs,
        runs.filter((run) => run.epoch === epoch),
      ).map((d) => `${label}${d}`),
    );
    totals.produced += bound;
    totals.persisted += audit.persisted;
    totals.duplicates += audit.duplicates;
    totals.outOfOrder += audit.outOfOrder;
    totals.gaps += audit.missing + audit.gapCount;
    totals.resentIgnored = audit.resentIgnored;
  }
  if (storedEpochs !== epochs.length)
    differences.push(`${storedEpochs} epochs in the store, ${epochs.length} in the engine's processes`);
  if (!view) differences.push('unknown to the aggregator');
  else {
    const produced = final?.lastSeq ?? 0;
    if (view.epoch !== lastEpoch) differences.push(`aggregator epoch ${view.epoch}, engine ${lastEpoch}`);
    if (view.persistedSeq !== produced) differences.push(`persistedSeq ${view.persistedSeq} of ${produced}`);
    if (view.persistedCount !== totals.persisted)
      differences.push(`persistedCount ${view.persistedCount} of ${totals.persisted}`);
  }
  return {
    id: engine.id,
    processes: lifetimes.length,
    ...totals,
    runsExpected: countRuns(expected),
    runsPersisted: countRuns(runs),
    differences,
  };
}

/** The lifetimes grouped by epoch, in order (a durable outbox keeps one epoch across processes). */
function epochsOf(lifetimes: readonly Lifetime[]): Array<{ epoch: string; lives: Lifetime[] }> {
  const out: Array<{ epoch: string; lives: Lifetime[] }> = [];
  for (const life of lifetimes) {
    const last = out.at(-1);
    if (last?.epoch === life.epoch) last.lives.push(life);
    else out.push({ epoch: life.epoch, lives: [life] });
  }
  return out;
}
