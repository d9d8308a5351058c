// npm run bench: every benchmark, several runs each, medians and spreads, printed as tables and written
// to bench/results/latest.md. Nothing here passes or fails: it reports where engine-link stands.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { runChild, startChild, stopChild, summarize, table } from './support.ts';

const runs = Number(process.env.BENCH_RUNS ?? 3);
const quick = process.argv.includes('--quick');
const here = import.meta.dirname;
const scenario = (name: string) => join(here, 'scenarios', `${name}.ts`);
const server = (name: string) => join(here, 'servers', `${name}.ts`);
const sections: string[] = [];
const log = (line: string) => process.stderr.write(`${line}\n`);

function spread(values: number[]): [number, string] {
  const s = summarize(values);
  return [
    s.median,
    `${Math.round(s.min).toLocaleString('en-US')} – ${Math.round(s.max).toLocaleString('en-US')}`,
  ];
}

async function repeat<T>(label: string, fn: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < runs; i++) {
    log(`  ${label}: run ${i + 1}/${runs}`);
    out.push(await fn());
  }
  return out;
}

// 1. send() cost and heap per buffered sample.
{
  const n = quick ? 200_000 : 1_000_000;
  log(`engine send() and buffer memory, ${n.toLocaleString('en-US')} samples`);
  const results = await repeat('buffering', () =>
    runChild<{ sendNsPerRecord: number; heapBytesPerRecord: number; sampleJsonBytes: number }>(
      scenario('engineSend'),
      [String(n)],
      ['--expose-gc'],
    ),
  );
  const [sendNs, sendSpread] = spread(results.map((r) => r.sendNsPerRecord));
  const [heap, heapSpread] = spread(results.map((r) => r.heapBytesPerRecord));
  sections.push(
    table(
      `Engine: send() while buffering, ${n.toLocaleString('en-US')} samples of ${results[0]?.sampleJsonBytes} JSON bytes`,
      ['measure', 'median', 'min – max', 'target'],
      [
        ['send() ns per record', sendNs, sendSpread, '< 2,000'],
        ['heap bytes per buffered sample', heap, heapSpread, '<= 64'],
      ],
    ),
  );
}

// 2. Live throughput against raw batched ws.
{
  const n = quick ? 100_000 : 500_000;
  log(`live throughput, ${n.toLocaleString('en-US')} records`);
  const link = await repeat('engine-link', async () => {
    const { child, ready } = await startChild(server('aggregatorServer'));
    try {
      return (await runChild(scenario('liveThroughput'), ['engine-link', String(ready.port), String(n)]))
        .perSecond;
    } finally {
      await stopChild(child);
    }
  });
  const raw = await repeat('raw ws', async () => {
    const { child, ready } = await startChild(server('rawWsServer'));
    try {
      return (await runChild(scenario('liveThroughput'), ['raw', String(ready.port), String(n)])).perSecond;
    } finally {
      await stopChild(child);
    }
  });
  const [linkMedian, linkSpread] = spread(link);
  const [rawMedian, rawSpread] = spread(raw);
  sections.push(
    table(
      `Live throughput, engine and aggregator in separate processes (${n.toLocaleString('en-US')} records)`,
      ['system', 'records/s (median)', 'min – max', 'ratio to raw ws'],
      [
        [
          'engine-link (persisted in SQLite and acknowledged)',
          linkMedian,
          linkSpread,
          `${(linkMedian / rawMedian).toFixed(2)}x`,
        ],
        ['raw ws, batches of 100 (parsed, not stored)', rawMedian, rawSpread, '1.00x'],
      ],
    ),
  );
}

// 3. Catch-up of a memory-outbox backlog into SQLite.
{
  const n = quick ? 200_000 : 1_000_000;
  log(`catch-up, ${n.toLocaleString('en-US')} records`);
  const results = await repeat('catch-up', async () => {
    const { child, ready } = await startChild(server('aggregatorServer'));
    try {
      return (await runChild(scenario('catchUp'), [String(ready.port), String(n)])).perSecond;
    } finally {
      await stopChild(child);
    }
  });
  const [median, range] = spread(results);
  sections.push(
    table(
      `Catch-up: ${n.toLocaleString('en-US')} buffered records drained into the aggregator's SQLite store`,
      ['measure', 'records/s (median)', 'min – max', 'target'],
      [['memory outbox → SQLite, over ws', median, range, '>= 300,000']],
    ),
  );
}

const header = `# engine-link benchmarks\n\n${new Date().toISOString()} · Node ${process.version} · ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} · ${runs} runs each\n`;
const report = [header, ...sections].join('\n');
process.stdout.write(`${report}\n`);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'latest.md'), `${report}\n`);
