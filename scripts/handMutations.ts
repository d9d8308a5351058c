/**
 * The six hand-made mutations of issue 13, each applied in turn to the working tree and run against the
 * model tests, the purity test and the layering test: every one must be caught. The file is restored
 * after each run (also on Ctrl-C). `npm run mutation:hand`; `-- --keep-going` reports them all even when
 * one survives. Exit status 1 when one survives.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

interface HandMutation {
  readonly name: string;
  readonly file: string;
  readonly find: string;
  readonly replace: string;
}

const root = resolve(import.meta.dirname, '..');
const TESTS = ['test/model', 'test/layering.test.ts'];

export const HAND_MUTATIONS: readonly HandMutation[] = [
  {
    name: '1. a guard boundary: backlog > 0 becomes > 1',
    file: 'machines/engineLink.ts',
    find: 'event.backlog > 0',
    replace: 'event.backlog > 1',
  },
  {
    name: "2. the aggregator's retryAfterMs ignored",
    file: 'machines/engineLink.ts',
    find: 'retryAfterMs: context.retryAfterMs })',
    replace: 'retryAfterMs: null })',
  },
  {
    name: '3. a restart recorded as "engine lost" (unconfirmed run)',
    file: 'machines/runReconciliation.ts',
    find: "ENGINE_RUNNING: 'active',\n        RUN_COMPLETED: { target: 'completed', actions: 'rememberEnd' },\n        RUN_FAILED: { target: 'failed', actions: 'rememberEnd' },\n        ENGINE_RESTARTED: {\n          target: 'interrupted',\n          actions: { type: 'interruptedBy', params: { reason: REASON_ENGINE_RESTARTED } },",
    replace:
      "ENGINE_RUNNING: 'active',\n        RUN_COMPLETED: { target: 'completed', actions: 'rememberEnd' },\n        RUN_FAILED: { target: 'failed', actions: 'rememberEnd' },\n        ENGINE_RESTARTED: {\n          target: 'interrupted',\n          actions: { type: 'interruptedBy', params: { reason: REASON_ENGINE_LOST } },",
  },
  {
    name: '4a. failPendingCommands removed (offline)',
    file: 'machines/engineSession.ts',
    find: "entry: ['publishProgress', { type: 'failPendingCommands', params: { reason: 'engine went offline' } }],",
    replace: "entry: ['publishProgress'],",
  },
  {
    name: '4b. startHeartbeat removed (catching up)',
    file: 'machines/engineSession.ts',
    find: "entry: ['startHeartbeat', 'publishProgress'],",
    replace: "entry: ['publishProgress'],",
  },
  {
    name: '5a. a setTimeout inside an action',
    file: 'machines/engineLink.ts',
    find: 'openSocket: () => {},',
    replace: 'openSocket: () => {\n      setTimeout(() => {}, 0);\n    },',
  },
  {
    name: '5b. Date.now inside an action',
    file: 'machines/engineLink.ts',
    find: 'attempt: ({ context }) => Math.min(context.attempt + 1, MAX_COUNTED_ATTEMPTS),',
    replace:
      'attempt: ({ context }) => Math.min(context.attempt + 1 + (Date.now() < 0 ? 1 : 0), MAX_COUNTED_ATTEMPTS),',
  },
  {
    name: '6. a wrong target: active + ENGINE_NOT_RUNNING goes to active',
    file: 'machines/runReconciliation.ts',
    find: "ENGINE_NOT_RUNNING: {\n          target: 'interrupted',",
    replace: "ENGINE_NOT_RUNNING: {\n          target: 'active',",
  },
];

interface Outcome {
  readonly caught: boolean;
  readonly failed: string[];
}

function run(mutation: HandMutation): Outcome {
  const path = join(root, mutation.file);
  const original = readFileSync(path, 'utf8');
  if (!original.includes(mutation.find))
    throw new Error(`${mutation.file} no longer contains: ${mutation.find}`);
  const report = join(tmpdir(), `hand-mutation-${process.pid}.json`);
  const restore = () => writeFileSync(path, original);
  process.once('SIGINT', restore);
  try {
    writeFileSync(path, original.replace(mutation.find, mutation.replace));
    const result = spawnSync(
      'npx',
      ['vitest', 'run', ...TESTS, '--reporter=json', `--outputFile=${report}`],
      {
        cwd: root,
        stdio: 'ignore',
      },
    );
    const json = JSON.parse(readFileSync(report, 'utf8')) as {
      testResults: Array<{ name: string; assertionResults: Array<{ fullName: string; status: string }> }>;
    };
    const failed = json.testResults.flatMap((file) =>
      file.assertionResults
        .filter((test) => test.status === 'failed')
        .map((test) => `${file.name.replace(`${root}/`, '')} > ${test.fullName}`),
    );
    return { caught: result.status !== 0, failed };
  } finally {
    restore();
    process.removeListener('SIGINT', restore);
    rmSync(report, { force: true });
  }
}

const keepGoing = process.argv.includes('--keep-going');
let survivors = 0;
for (const mutation of HAND_MUTATIONS) {
  const outcome = run(mutation);
  if (!outcome.caught) survivors++;
  console.log(
    `${outcome.caught ? 'caught  ' : 'SURVIVED'} ${mutation.name} (${outcome.failed.length} tests fail)`,
  );
  for (const test of outcome.failed.slice(0, 3)) console.log(`           ${test}`);
  if (outcome.failed.length > 3) console.log(`           … and ${outcome.failed.length - 3} more`);
  if (!outcome.caught && !keepGoing) break;
}
console.log(survivors === 0 ? 'every hand-made mutation is caught' : `${survivors} survived`);
process.exitCode = survivors === 0 ? 0 : 1;
