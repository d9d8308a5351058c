import type { SimulationResult } from './simulation.ts';
import { SIMULATION_DEFAULTS, type SimulationOptions } from './simulationOptions.ts';

/** The one-line command that replays a run exactly (same seed, same options). */
export function replayCommand(options: Partial<SimulationOptions>): string {
  const args = [`--seed ${options.seed ?? SIMULATION_DEFAULTS.seed}`];
  if (options.hours) args.push(`--hours ${options.hours}`);
  else args.push(`--steps ${options.steps ?? SIMULATION_DEFAULTS.steps}`);
  if (options.engines !== undefined && options.engines !== SIMULATION_DEFAULTS.engines)
    args.push(`--engines ${options.engines}`);
  return `npm run simulate -- ${args.join(' ')}`;
}

/** One line per run: steps, simulated time, speed, trace hash, verdict. */
export function summaryLine(result: SimulationResult, wallMs: number): string {
  const seconds = result.simulatedMs / 1000;
  const speed = wallMs > 0 ? Math.round(seconds / (wallMs / 1000)) : 0;
  const verdict = result.violation ? `FAILED at step ${result.violation.step}` : 'ok';
  return (
    `seed ${result.seed}: ${result.steps} steps, ${Math.round(seconds)} s simulated in ` +
    `${(wallMs / 1000).toFixed(1)} s (${speed} simulated s per s), trace ${result.traceHash}: ${verdict}`
  );
}

/** What a failure prints: seed, step, the invariant and what was seen, the last events, the replay. */
export function failureReport(result: SimulationResult, options: Partial<SimulationOptions>): string {
  const violation = result.violation;
  if (!violation) return '';
  return [
    `INVARIANT VIOLATED: ${violation.invariant}`,
    `  ${violation.detail}`,
    `  seed ${result.seed}, step ${violation.step}, simulated time ${(result.simulatedMs / 1000).toFixed(3)} s`,
    '  last events (simulated seconds, what):',
    ...violation.lastEvents.map((line) => `    ${line}`),
    `  replay: ${replayCommand({ ...options, seed: result.seed })}`,
  ].join('\n');
}

/** What the run did, in one line: the actions drawn by kind and what the network, disk and people saw. */
export function activityLine(result: SimulationResult): string {
  const stats = result.stats as {
    actions: Record<string, number>;
    pendingWritesFlushed: number;
    network: { corrupted: number };
    disk: { failures: number; tornWrites: number; lostOps: number };
    operator: { sent: number; refused: number; retried: number };
  };
  const actions = Object.entries(stats.actions)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ');
  return (
    `  actions: ${actions}; frames corrupted ${stats.network.corrupted}; disk failures ` +
    `${stats.disk.failures}, torn writes ${stats.disk.tornWrites}, unsynced writes lost ${stats.disk.lostOps}; ` +
    `commands accepted ${stats.operator.sent}, refused ${stats.operator.refused}, retried ${stats.operator.retried}; ` +
    `pending hardware writes flushed ${stats.pendingWritesFlushed}`
  );
}
