// npm run simulate -- --seed S --steps N | --hours H: the deterministic simulation (see README).
import { parseArgs } from 'node:util';
import { activityLine, failureReport, summaryLine } from '../src/simulation/report.ts';
import { simulate } from '../src/simulation/simulation.ts';
import { SIMULATION_DEFAULTS } from '../src/simulation/simulationOptions.ts';
import { numberOption } from './numberOption.ts';

const usage = `Usage: npm run simulate -- [--seed S] [--steps N | --hours H] [--seeds M] [--engines K]

Runs the whole system (K engines with memory and durable outboxes, the aggregator and its SQLite store,
the network, the disk, hardware, operators) in one process under one seeded scheduler with simulated
time, injecting faults and crashes at any step and checking the invariants after every step and at the
end. Prints the trace hash of each run (the same seed gives the same hash); on a violation prints the
seed, the step, the invariant, the last events and the command that replays it, and exits 1.

Options:
  --seed S      the seed (default: ${SIMULATION_DEFAULTS.seed})
  --seeds M     run M seeds, S to S+M-1 (default: 1)
  --steps N     steps before the quiet phase (default: ${SIMULATION_DEFAULTS.steps})
  --hours H     simulated hours before the quiet phase instead of --steps (fractions allowed)
  --engines K   engines (default: ${SIMULATION_DEFAULTS.engines})
  --json        also print each run's result as a line SIMULATION_RESULT <json>
`;

function number(value: string | boolean | undefined, name: string, min: number): number | undefined {
  return numberOption(value as string | undefined, name, min, usage, name !== 'hours');
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      seed: { type: 'string' },
      seeds: { type: 'string' },
      steps: { type: 'string' },
      hours: { type: 'string' },
      engines: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n\n${usage}`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const first = number(values.seed, 'seed', 0) ?? SIMULATION_DEFAULTS.seed;
const count = number(values.seeds, 'seeds', 1) ?? 1;
const options = {
  steps: number(values.steps, 'steps', 1),
  hours: number(values.hours, 'hours', 0),
  engines: number(values.engines, 'engines', 1),
};
const asked = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
let failed = false;
for (let seed = first; seed < first + count; seed++) {
  const began = performance.now();
  const result = await simulate({ ...asked, seed, progressEverySteps: 50_000 }, (step, ms) =>
    process.stderr.write(`  seed ${seed}: step ${step}, ${Math.round(ms / 1000)} s simulated\n`),
  );
  process.stdout.write(`${summaryLine(result, performance.now() - began)}\n${activityLine(result)}\n`);
  if (values.json) process.stdout.write(`SIMULATION_RESULT ${JSON.stringify(result)}\n`);
  if (result.violation) {
    failed = true;
    process.stdout.write(`${failureReport(result, { ...asked, seed })}\n`);
    break;
  }
}
process.exit(failed ? 1 : 0);
