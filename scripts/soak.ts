// npm run soak -- --seed N --minutes M --engines K: the seeded fault soak (see README, "The soak").
import { parseArgs } from 'node:util';
import { formatReport } from '../src/soak/soakReport.ts';
import { runSoak } from '../src/soak/soakRunner.ts';
import { numberOption } from './numberOption.ts';

const usage = `Usage: npm run soak -- [--seed N] [--minutes M] [--engines K] [options]

Runs K simulated engines (durable outboxes, synced on every record) against one aggregator for M minutes
while seeded faults hit them: links cut, closed, black-holed, stalled, delayed, trickled and refused (a
fault proxy per engine), engines and the aggregator killed with SIGKILL and restarted. Then it stops the
engines cleanly, checks the store record by record and run by run, prints a summary and exits 1 on any
difference.

Options:
  --seed N          seed of the fault plan (default: 1)
  --minutes M       how long faults are injected (default: 2; fractions allowed)
  --engines K       simulated engines (default: 3)
  --rate R          samples per second per engine (default: 100)
  --run-seconds S   length of each simulated run (default: 2)
  --fail-every N    every Nth run fails (default: 3)
  --mean-gap-ms MS  mean time between two faults (default: 1500)
  --dir PATH        where the store, outboxes and logs go (default: a new temporary directory)
  --db STORE        the aggregator's store: postgres (a throwaway PostgreSQL server of the soak's own,
                    SIGKILLed and restarted as one more fault) or a postgres:// URL (that database, not
                    killed); default: a SQLite file in the soak's directory
  --nodes N         aggregator nodes (default: 1); more than one make a fleet on the PostgreSQL --db
                    (needed), each engine given every node's URL, nodes SIGKILLed among the faults
  --quiet           no line per fault
`;

function number(value: string | undefined, name: string, fallback: number, min: number): number {
  return numberOption(value, name, min, usage) ?? fallback;
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      seed: { type: 'string' },
      minutes: { type: 'string' },
      engines: { type: 'string' },
      rate: { type: 'string' },
      'run-seconds': { type: 'string' },
      'fail-every': { type: 'string' },
      'mean-gap-ms': { type: 'string' },
      dir: { type: 'string' },
      db: { type: 'string' },
      nodes: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }));
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n\n${usage}`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const str = (name: string) => values[name] as string | undefined;
const report = await runSoak({
  seed: Math.floor(number(str('seed'), 'seed', 1, 0)),
  minutes: number(str('minutes'), 'minutes', 2, 0.05),
  engines: Math.floor(number(str('engines'), 'engines', 3, 1)),
  rate: number(str('rate'), 'rate', 100, 1),
  runSeconds: number(str('run-seconds'), 'run-seconds', 2, 0.1),
  failEvery: Math.floor(number(str('fail-every'), 'fail-every', 3, 0)),
  meanGapMs: number(str('mean-gap-ms'), 'mean-gap-ms', 1500, 50),
  ...(str('dir') ? { dir: str('dir') } : {}),
  ...(str('db') ? { db: str('db') } : {}),
  nodes: Math.floor(number(str('nodes'), 'nodes', 1, 1)),
  ...(values.quiet ? {} : { log: (line: string) => process.stdout.write(`${line}\n`) }),
});
process.stdout.write(`${formatReport(report)}\n`);
process.stdout.write(`SOAK_RESULT ${JSON.stringify(report)}\n`);
process.exit(report.ok ? 0 : 1);
