import { describe, expect, it } from 'vitest';
import type { SimulationResult } from '../../src/simulation/simulation.ts';
import { runScript } from '../support/scriptProcess.ts';

/**
 * The deterministic simulation as CI runs it (`npm run simulate -- --seed 6 --seeds 7 --steps 20000`):
 * four engines (two durable, two memory outboxes), the aggregator and its SQLite store, the simulated
 * network and disk, hardware and operators, under one seeded scheduler, with faults and crashes at any
 * step and the invariants checked after every step and at the end. Each seed must pass, and the run
 * must really have been hit by every kind of fault. A second process replays one seed: same trace hash.
 */
async function simulate(args: string[]) {
  const { code, stdout, stderr } = await runScript('simulate.ts', ['--json', ...args]);
  const results = [...stdout.matchAll(/^SIMULATION_RESULT (.*)$/gm)].map(
    (match) => JSON.parse(match[1]!) as SimulationResult,
  );
  return {
    code,
    stdout: `${stdout.replace(/^SIMULATION_RESULT .*$/gm, '').trim()}\n${stderr.slice(-2000)}`,
    results,
  };
}

describe('simulation', () => {
  it('seven seeds of 20 000 steps: every invariant holds, under every kind of fault', async () => {
    const { code, stdout, results } = await simulate(['--seed', '6', '--seeds', '7', '--steps', '20000']);
    expect(code, stdout).toBe(0);
    expect(
      results.map((r) => r.seed),
      stdout,
    ).toEqual([6, 7, 8, 9, 10, 11, 12]);
    for (const result of results) {
      expect(result.violation, stdout).toBeUndefined();
      // The quiet phase ran: more than 20 000 steps' worth of simulated time plus the abandon time.
      expect(result.simulatedMs).toBeGreaterThan(500_000);
    }
    // Every kind of action was drawn, and the faults had effects.
    const total = (pick: (r: SimulationResult) => number) => results.reduce((n, r) => n + pick(r), 0);
    const stats = (r: SimulationResult) =>
      r.stats as Record<string, Record<string, number>> & { pendingWritesFlushed: number };
    for (const kind of [
      'aggregatorKill',
      'blackhole',
      'closeConnections',
      'command',
      'corrupt',
      'cut',
      'delay',
      'diskFault',
      'engineKill',
      'enginePowerOff',
      'hardwareFault',
      'hardwareWrite',
      'refuse',
      'stall',
      'trickle',
    ])
      expect(
        total((r) => stats(r).actions![kind] ?? 0),
        kind,
      ).toBeGreaterThan(0);
    expect(total((r) => stats(r).network!.corrupted!)).toBeGreaterThan(0);
    expect(total((r) => stats(r).disk!.failures!)).toBeGreaterThan(0);
    expect(total((r) => stats(r).disk!.lostOps!)).toBeGreaterThan(0);
    expect(total((r) => stats(r).operator!.sent!)).toBeGreaterThan(0);
    expect(total((r) => stats(r).pendingWritesFlushed)).toBeGreaterThan(0);
  }, 300_000);

  it('the same seed gives the same trace, in another process; another seed another trace', async () => {
    const [a, b, c] = await Promise.all([
      simulate(['--seed', '21', '--steps', '3000']),
      simulate(['--seed', '21', '--steps', '3000']),
      simulate(['--seed', '22', '--steps', '3000']),
    ]);
    for (const run of [a, b, c]) expect(run.results, run.stdout).toHaveLength(1);
    expect(a.results[0]!.traceHash).toMatch(/^[0-9a-f]{16}$/);
    expect(b.results[0]!.traceHash).toBe(a.results[0]!.traceHash);
    expect(b.results[0]!.simulatedMs).toBe(a.results[0]!.simulatedMs);
    expect(c.results[0]!.traceHash).not.toBe(a.results[0]!.traceHash);
    expect(a.stdout).toContain(`trace ${a.results[0]!.traceHash}`);
  }, 120_000);
});
