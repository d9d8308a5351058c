import { describe, expect, it } from 'vitest';
import type { SoakReport } from '../../src/soak/soakReport.ts';
import { runScript } from '../support/scriptProcess.ts';

/**
 * The CI-sized soak, as a person runs it (`npm run soak -- --seed 3 --minutes 2 --engines 3`): three
 * simulated engines with durable outboxes run methods for two minutes while about sixty seeded faults hit
 * them (links cut, closed, black-holed, stalled, delayed, trickled, refused; engines and the aggregator
 * killed with SIGKILL and restarted). It must exit 0, and its summary must show every record persisted
 * exactly once and in order, and every run as the engines ran it. The same, shorter, on PostgreSQL (its
 * server killed among the faults) and with a fleet of three aggregator nodes (nodes killed among them).
 */
describe('soak', () => {
  it('two minutes of seeded faults: every record once, in order; every run as it happened', async () => {
    const { code, report, summary } = await soak(['--seed', '3', '--minutes', '2', '--engines', '3']);
    expectEveryRecordOnce(code, report, summary, 3);
    // The faults really happened, of every kind.
    expect(report.faultTotal).toBeGreaterThanOrEqual(50);
    for (const kind of ['cut', 'blackhole', 'stall', 'trickle', 'kill-engine', 'kill-aggregator'] as const)
      expect(report.faults[kind] ?? 0, kind).toBeGreaterThan(0);
    expect(report.aggregatorRestarts).toBeGreaterThan(0);
    for (const row of report.rows) {
      expect(row.produced).toBeGreaterThan(1000);
      expect(row.runsExpected.completed + row.runsExpected.failed).toBeGreaterThan(2);
    }
    // Engines were killed mid-run and came back on the same outbox.
    expect(report.rows.some((row) => row.processes > 1)).toBe(true);
    expect(report.rows.reduce((sum, row) => sum + row.runsExpected.interrupted, 0)).toBeGreaterThan(0);
    // The summary a person reads.
    expect(summary).toMatch(/faults injected: \d+ \(/);
    expect(summary).toMatch(/engine\s+procs\s+produced\s+persisted\s+dups\s+out-of-order\s+gaps/);
  }, 330_000);

  it('on PostgreSQL, one minute of seeded faults, PostgreSQL SIGKILLed among them: every record once, in order', async () => {
    // `--db postgres`: a throwaway PostgreSQL server of the soak's own, SIGKILLed and restarted as a fault.
    const { code, report, summary } = await soak([
      '--seed',
      '3',
      '--minutes',
      '1',
      '--engines',
      '2',
      '--db',
      'postgres',
    ]);
    expectEveryRecordOnce(code, report, summary, 2);
    expect(report.faults['kill-postgres'] ?? 0, summary).toBeGreaterThan(0);
    expect(report.faults['kill-aggregator'] ?? 0, summary).toBeGreaterThan(0);
    for (const row of report.rows) expect(row.produced, row.id).toBeGreaterThan(500);
  }, 240_000);

  it('a fleet of three nodes on PostgreSQL, nodes SIGKILLed among the faults: every record once, in order', async () => {
    // `--nodes 3`: three aggregator nodes on the soak's PostgreSQL, each engine given every node's URL.
    const { code, report, summary } = await soak([
      '--seed',
      '5',
      '--minutes',
      '0.5',
      '--engines',
      '3',
      '--db',
      'postgres',
      '--nodes',
      '3',
    ]);
    expectEveryRecordOnce(code, report, summary, 3);
    expect(report.faults['kill-aggregator'] ?? 0, summary).toBeGreaterThanOrEqual(2);
    expect(report.aggregatorRestarts, summary).toBeGreaterThanOrEqual(2);
    for (const row of report.rows) expect(row.produced, row.id).toBeGreaterThan(1000);
  }, 240_000);
});

/** Exit 0, and every engine's records stored exactly once, in order, with every run as it happened. */
function expectEveryRecordOnce(
  code: number | null,
  report: SoakReport,
  summary: string,
  engines: number,
): void {
  expect(code, summary).toBe(0);
  expect(report.ok, summary).toBe(true);
  expect(report.differences).toEqual([]);
  expect(report.rows).toHaveLength(engines);
  for (const row of report.rows) {
    expect(row.differences, row.id).toEqual([]);
    expect(row).toMatchObject({ persisted: row.produced, duplicates: 0, outOfOrder: 0, gaps: 0 });
    expect(row.runsPersisted).toEqual(row.runsExpected);
  }
  expect(summary).toMatch(/result: every record persisted exactly once, in order; every run as expected/);
}

/** Runs `npm run soak -- <args> --quiet` as a person would; its exit code, report and printed summary. */
async function soak(args: string[]): Promise<{ code: number | null; report: SoakReport; summary: string }> {
  const { code, stdout, stderr } = await runScript('soak.ts', [...args, '--quiet']);
  const summary = stdout.replace(/^SOAK_RESULT .*$/m, '').trim();
  const resultLine = /^SOAK_RESULT (.*)$/m.exec(stdout);
  expect(resultLine, `no SOAK_RESULT line\n${stdout}\n${stderr.slice(-4000)}`).not.toBeNull();
  return { code, report: JSON.parse(resultLine![1]!) as SoakReport, summary };
}
