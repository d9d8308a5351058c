/**
 * `npm run mutation`: mutation testing with Stryker in two passes (test/model/stryker/): the machines
 * against the model tests, then the runtimes (one group of files per runtime) against the model tests and
 * their own in-process tests.
 * Arguments go to both passes (`-- --incremental` reuses the last run's results where nothing changed).
 * Ends with one table of every mutated file and the time each pass took; the reports are in
 * reports/mutation/ (HTML and JSON). test/model/MUTATION.md records the figures and every survivor.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const { RUNTIME_GROUPS } = await import('../test/model/stryker/runtimes.config.mjs');
/** Pass 1, then pass 2 one runtime at a time (each with its report: a long pass keeps what it finished). */
const PASSES = [
  { name: 'machines', config: 'machines', env: {} },
  ...Object.keys(RUNTIME_GROUPS).map((group) => ({
    name: `runtimes-${group}`,
    config: 'runtimes',
    env: { MUTATION_GROUP: group },
  })),
];
const args = process.argv.slice(2);

interface Report {
  files: Record<string, { mutants: Array<{ status: string }> }>;
}

const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

function summary(report: Report): string[] {
  const lines = [];
  for (const [file, { mutants }] of Object.entries(report.files)) {
    const count = (statuses: Set<string>) => mutants.filter((m) => statuses.has(m.status)).length;
    const detected = count(DETECTED);
    const undetected = count(UNDETECTED);
    const score = detected + undetected === 0 ? 100 : (100 * detected) / (detected + undetected);
    lines.push(
      `${file.padEnd(42)} ${score.toFixed(2).padStart(7)} %  ${String(detected).padStart(4)} detected  ` +
        `${String(undetected).padStart(3)} undetected  ${mutants.length - detected - undetected} other`,
    );
  }
  return lines;
}

const table: string[] = [];
let failed = false;
for (const pass of PASSES) {
  const started = Date.now();
  console.log(`\n== mutation pass: ${pass.name}`);
  const result = spawnSync(
    'npx',
    ['stryker', 'run', `test/model/stryker/${pass.config}.config.mjs`, ...args],
    {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, ...pass.env },
    },
  );
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  if (result.status !== 0) failed = true;
  const json = join(root, 'reports/mutation', `${pass.name}.json`);
  table.push(`-- ${pass.name}: ${minutes} min${result.status === 0 ? '' : ' (failed)'}`);
  if (existsSync(json)) table.push(...summary(JSON.parse(readFileSync(json, 'utf8')) as Report));
}
console.log(`\n${table.join('\n')}`);
process.exitCode = failed ? 1 : 0;
