/**
 * Which PostgreSQL driver for the aggregator: `pg` and `postgres` (postgres.js) on the ingest pattern
 * (sample rows in frames of 1000, eight frames to a commit), by multi-row INSERT … SELECT unnest(…) and by
 * COPY, into a throwaway cluster on this machine (fsync on, as a real server). Paths run round-robin,
 * `rounds` times; the table shows the median and the best records/s.
 *
 * Run: npx tsx bench/postgresDrivers.ts [records=1000000] [rounds=3] [frame=1000] [framesPerCommit=8]
 * (fan-in's pattern: frames of 1 record, 1000 to a commit)
 */
import { loadavg } from 'node:os';
import { PostgresCluster } from '../src/faults/postgresCluster.ts';
import {
  pgCopy,
  pgUnnest,
  postgresCopy,
  postgresUnnest,
  type RawShape,
  rawCount,
} from './postgres/rawIngest.ts';

const total = Number(process.argv[2] ?? 1_000_000);
const rounds = Number(process.argv[3] ?? 3);
const frame = Number(process.argv[4] ?? 1000);
const framesPerCommit = Number(process.argv[5] ?? 8);
const shape: RawShape = { total, frame, framesPerCommit };

const paths: Array<[string, (url: string) => Promise<void>]> = [
  ['pg: INSERT … SELECT unnest(…)', (url) => pgUnnest(url, shape)],
  ['postgres: INSERT … SELECT unnest(…)', (url) => postgresUnnest(url, shape)],
  ['pg: COPY text (pg-copy-streams)', (url) => pgCopy(url, shape, 'text')],
  ['pg: COPY binary (pg-copy-streams)', (url) => pgCopy(url, shape, 'binary')],
  ['postgres: COPY text', (url) => postgresCopy(url, shape, 'text')],
  ['postgres: COPY binary', (url) => postgresCopy(url, shape, 'binary')],
];

const cluster = await PostgresCluster.create();
const url = cluster.url();
const results = new Map<string, number[]>(paths.map(([name]) => [name, []]));
try {
  for (let round = 0; round < rounds; round++)
    for (const [name, run] of paths) {
      const start = performance.now();
      await run(url);
      const seconds = (performance.now() - start) / 1000;
      const stored = await rawCount(url);
      if (stored !== total) throw new Error(`${name}: ${stored} rows stored, expected ${total}`);
      results.get(name)!.push(total / seconds);
      process.stderr.write(`round ${round + 1}: ${name}: ${Math.round(total / seconds)} records/s\n`);
    }
} finally {
  cluster.destroy();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `| path (${total} records, frames of ${frame}, ${framesPerCommit} frames a commit) | median records/s | best |`,
);
console.log('| --- | ---: | ---: |');
for (const [name, xs] of results)
  console.log(
    `| ${name} | ${Math.round(median(xs)).toLocaleString('en')} | ${Math.round(Math.max(...xs)).toLocaleString('en')} |`,
  );
console.log(
  `\nload average at the end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
