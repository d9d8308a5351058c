import type { ExpectedRun, RunView } from './expectedRuns.ts';
import type { FaultKind } from './faultPlan.ts';

export const RUN_STATES = ['completed', 'failed', 'interrupted', 'unconfirmed', 'active'] as const;
export type RunCounts = Record<(typeof RUN_STATES)[number], number>;

/** One engine's line of the soak's summary. */
export interface EngineRow {
  id: string;
  /** Processes it ran (1 + restarts after SIGKILL). */
  processes: number;
  /** Sequence numbers stamped over all its processes (the last process's lastSeq: one epoch). */
  produced: number;
  /** Records the aggregator's store holds for it. */
  persisted: number;
  duplicates: number;
  outOfOrder: number;
  /** Sequence numbers neither stored nor accounted for, plus records a gap record says were lost. */
  gaps: number;
  /** Records the aggregator received again after reconnects and ignored (expected, not an error). */
  resentIgnored: number;
  runsExpected: RunCounts;
  runsPersisted: RunCounts;
  /** Everything that differs from what was expected; empty when the engine is fine. */
  differences: string[];
}

export interface SoakReport {
  seed: number;
  minutes: number;
  engines: number;
  /** Faults carried out, by kind. */
  faults: Partial<Record<FaultKind, number>>;
  faultTotal: number;
  aggregatorRestarts: number;
  rows: EngineRow[];
  /** Differences not tied to one engine (a fault that could not be carried out, a step that timed out). */
  differences: string[];
  ok: boolean;
  workDir: string;
  elapsedMs: number;
}

export function countRuns(runs: ReadonlyArray<ExpectedRun | RunView>): RunCounts {
  const counts: RunCounts = { completed: 0, failed: 0, interrupted: 0, unconfirmed: 0, active: 0 };
  for (const run of runs) {
    const state = run.state as keyof RunCounts;
    if (state in counts) counts[state]++;
  }
  return counts;
}

function runs(counts: RunCounts): string {
  return `${counts.completed}/${counts.failed}/${counts.interrupted}/${counts.unconfirmed}${
    counts.active ? ` +${counts.active} active` : ''
  }`;
}

/** The summary a person reads: faults, one row per engine, every difference. */
export function formatReport(report: SoakReport): string {
  const out: string[] = [];
  out.push(
    `soak: seed ${report.seed}, ${report.minutes} min, ${report.engines} engines, ${(report.elapsedMs / 1000).toFixed(0)} s in all`,
  );
  const kinds = Object.entries(report.faults)
    .sort((a, b) => b[1] - a[1])
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
  out.push(
    `faults injected: ${report.faultTotal} (${kinds}); aggregator restarts: ${report.aggregatorRestarts}`,
  );
  const header = [
    'engine',
    'procs',
    'produced',
    'persisted',
    'dups',
    'out-of-order',
    'gaps',
    'resent',
    'runs expected c/f/i/u',
    'runs persisted c/f/i/u',
    'ok',
  ];
  const rows = report.rows.map((row) => [
    row.id,
    String(row.processes),
    String(row.produced),
    String(row.persisted),
    String(row.duplicates),
    String(row.outOfOrder),
    String(row.gaps),
    String(row.resentIgnored),
    runs(row.runsExpected),
    runs(row.runsPersisted),
    row.differences.length === 0 ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  out.push(line(header));
  for (const row of rows) out.push(line(row));
  out.push('(runs: completed/failed/interrupted/unconfirmed; resent: records received again and ignored)');
  const differences = [
    ...report.differences,
    ...report.rows.flatMap((row) => row.differences.map((d) => `${row.id}: ${d}`)),
  ];
  if (differences.length === 0)
    out.push('result: every record persisted exactly once, in order; every run as expected');
  else {
    out.push(`result: ${differences.length} difference(s):`);
    for (const d of differences.slice(0, 50)) out.push(`  - ${d}`);
    if (differences.length > 50) out.push(`  ... and ${differences.length - 50} more`);
  }
  out.push(`work directory (store, outboxes, logs): ${report.workDir}`);
  return out.join('\n');
}
