// npm run bench: engine-link against raw ws, Socket.IO and MQTT.js on this machine, in this run, each
// section several runs (BENCH_RUNS, default 3) with medians and spreads, printed as tables and written to
// bench/results/latest.md, closing with where engine-link stands against the targets of issue 8.
// Nothing here passes or fails. `--quick`: smaller sizes. `--only=live,memory`: some sections only.
//
// Each section is a module in bench/sections/ exporting `section(ctx): Promise<string>`; add one by adding
// a line to SECTIONS.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { type BenchContext, type Section, type Standing, table } from './support.ts';

const SECTIONS: Array<[name: string, load: () => Promise<{ section: Section }>]> = [
  ['live', () => import('./sections/live.ts')],
  ['catchup', () => import('./sections/catchUp.ts')],
  ['detection', () => import('./sections/detection.ts')],
  ['memory', () => import('./sections/memory.ts')],
  ['fanin', () => import('./sections/fanIn.ts')],
  ['overhead', () => import('./sections/overhead.ts')],
  ['durable', () => import('./sections/durableOutbox.ts')],
  ['postgres', () => import('./sections/postgres.ts')],
  ['fleet', () => import('./sections/fleet.ts')],
];

const runs = Number(process.env.BENCH_RUNS ?? 3);
const quick = process.argv.includes('--quick');
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const here = import.meta.dirname;
const log = (line: string) => process.stderr.write(`${line}\n`);
const standings: Standing[] = [];
const notes: string[] = [];
const ctx: BenchContext = {
  runs,
  quick,
  log,
  async repeat(label, fn) {
    const out = [];
    for (let i = 0; i < runs; i++) {
      log(`  ${label}: run ${i + 1}/${runs}`);
      out.push(await fn());
    }
    return out;
  },
  stand: (standing) => standings.push(standing),
  async attempt(label, fn) {
    try {
      return await fn();
    } catch (error) {
      const message = (error as Error).message.split('\n')[0];
      log(`  ${label} failed (${message}); trying once more`);
      notes.push(`${label}: one run failed (${message}) and was run again.`);
      return await fn();
    }
  },
  note: (text) => notes.push(text),
  shared: new Map(),
  scenario: (name) => join(here, 'scenarios', `${name}.ts`),
  server: (name) => join(here, 'servers', `${name}.ts`),
};

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const started = performance.now();
const loadAtStart = load();
const parts: string[] = [];
for (const [name, module] of SECTIONS) {
  if (only && !only.includes(name)) continue;
  const sectionStarted = performance.now();
  const { section } = await module();
  // A section that fails is reported as such; the others still run.
  const text = await section(ctx).catch((error: Error) => {
    log(`${name} failed: ${error.stack ?? error.message}`);
    return `### ${name}\n\nFailed: ${error.message.split('\n')[0]}\n`;
  });
  const seconds = (performance.now() - sectionStarted) / 1000;
  log(`${name}: ${seconds.toFixed(0)} s, load average ${load()}`);
  parts.push(`${text}\n_${name}: ${seconds.toFixed(0)} s, load average after it ${load()}_\n`);
  process.stdout.write(`\n${text}\n`);
}

const verdict = (met: boolean | undefined) => (met === undefined ? 'not measured' : met ? 'met' : 'missed');
const closing = table(
  'Where it stands',
  ['target (issue 8)', 'figure', 'verdict'],
  standings.map((s) => [s.target, s.figure, verdict(s.met)]),
);
const remarks = notes.length ? `\n${notes.map((n) => `- ${n}`).join('\n')}\n` : '';
process.stdout.write(`\n${closing}${remarks}\n`);
const cpu = cpus();
const header = [
  '# engine-link benchmarks',
  '',
  `${new Date().toISOString()} · Node ${process.version} · ${cpu.length} × ${cpu[0]?.model ?? 'cpu'} · ` +
    `${runs} runs each${quick ? ' · quick sizes' : ''} · load average ${loadAtStart} at start · ` +
    `${((performance.now() - started) / 60_000).toFixed(1)} min in all`,
  '',
  'Alternatives: socket.io / socket.io-client 4.8.4 (WebSocket transport), mqtt (MQTT.js) 5.16.0 to aedes 1.2.0, ws 8.18.3. ' +
    'Every server runs in its own process; samples are tag, engine time, numeric value, unit. ' +
    'This machine is shared: the load average says how busy it was.',
  '',
].join('\n');
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'latest.md'), `${[header, ...parts, closing].join('\n')}${remarks}\n`);
