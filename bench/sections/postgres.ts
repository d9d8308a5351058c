// 8. PostgreSQL: the aggregator's PostgreSQL store against the raw limits of the same PostgreSQL, in the
// same run: multi-row INSERT … SELECT unnest(…) and COPY, 1,000,000 records in frames of 1000, 8 frames
// to a commit. Then the whole aggregator on PostgreSQL (--db postgres://): catch-up of 1,000,000 records
// from an engine over WebSocket, and fan-in of 1,000 engines at 10 samples/s (ingest latency from the
// engine's time stamp to committed). PostgreSQL is a throwaway cluster on this machine (fsync on, as a
// real server), each run a database of its own.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { PostgresCluster } from '../../src/faults/postgresCluster.ts';
import {
  type BenchContext,
  count,
  ratio,
  runChild,
  spread,
  startChild,
  stopChild,
  table,
} from '../support.ts';

interface FanInResult {
  perSecond: number;
  cpuPercent: number;
  p50: number;
  p99: number;
  /** The aggregator's group commits over the window. */
  commits: { groups: number; unitsPerGroup: number; p50Ms: number; p99Ms: number };
}

const PATHS = [
  { path: 'store', label: 'engine-link PostgresStore: checked, compare-and-set, unnest INSERT' },
  { path: 'insert', label: 'raw multi-row INSERT … SELECT unnest(…) (postgres.js)' },
  { path: 'copy', label: 'raw COPY FROM STDIN, text (pg + pg-copy-streams)' },
] as const;

export async function section(ctx: BenchContext): Promise<string> {
  const n = ctx.quick ? 200_000 : 1_000_000;
  ctx.log(`PostgreSQL: ${count(n)} records, store against raw INSERT and COPY`);
  const cluster = await PostgresCluster.create();
  const results = new Map<string, number[]>(PATHS.map(({ path }) => [path, []]));
  const catchUp: number[] = [];
  const fanIn: FanInResult[] = [];
  const fanInSeconds = ctx.quick ? 4 : 6;
  try {
    const admin = postgres(cluster.url(), { max: 1, onnotice: () => {} });
    /** Runs `fn` with the bench's aggregators on a fresh database (BENCH_POSTGRES_URL, read by its servers). */
    const onFreshDatabase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      const database = `bench_${name}_${randomBytes(4).toString('hex')}`;
      await admin.unsafe(`CREATE DATABASE ${database}`);
      process.env.BENCH_POSTGRES_URL = cluster.url(database);
      try {
        return await fn();
      } finally {
        delete process.env.BENCH_POSTGRES_URL;
        await admin.unsafe(`DROP DATABASE ${database} WITH (FORCE)`);
      }
    };
    for (let run = 0; run < ctx.runs; run++)
      for (const { path } of PATHS) {
        ctx.log(`  ${path}: run ${run + 1}/${ctx.runs}`);
        const database = `bench_${path}_${randomBytes(4).toString('hex')}`;
        await admin.unsafe(`CREATE DATABASE ${database}`);
        const result = await ctx.attempt(`PostgreSQL ${path}`, () =>
          runChild(ctx.scenario('postgresIngest'), [cluster.url(database), path, String(n)]),
        );
        await admin.unsafe(`DROP DATABASE ${database}`);
        results.get(path)!.push(result.perSecond);
      }
    for (let run = 0; run < ctx.runs; run++) {
      ctx.log(`  aggregator on PostgreSQL: catch-up of ${count(n)}, run ${run + 1}/${ctx.runs}`);
      catchUp.push(
        await ctx.attempt('catch-up on PostgreSQL', () =>
          onFreshDatabase('catchup', async () => {
            const { child, ready } = await startChild(ctx.server('aggregatorServer'));
            try {
              return (await runChild(ctx.scenario('catchUp'), [String(ready.port), String(n)])).perSecond;
            } finally {
              await stopChild(child);
            }
          }),
        ),
      );
      ctx.log(`  aggregator on PostgreSQL: fan-in of 1,000 engines, run ${run + 1}/${ctx.runs}`);
      fanIn.push(
        await ctx.attempt('fan-in on PostgreSQL', () =>
          onFreshDatabase('fanin', () =>
            runChild<FanInResult>(ctx.scenario('fanIn'), ['engine-link', '1000', String(fanInSeconds)]),
          ),
        ),
      );
    }
    await admin.end();
  } finally {
    cluster.destroy();
  }
  const median = (path: string) => spread(results.get(path)!)[0];
  const limit = Math.max(median('insert'), median('copy'));
  const store = median('store');
  ctx.stand({
    target: 'PostgreSQL store ingest (1M, frames of 1000) >= 150,000 records/s on 2 cores',
    figure: `${count(store)} records/s (${ratio(store, median('insert'))} of raw unnest INSERT, ${ratio(store, median('copy'))} of COPY)`,
    met: store >= 150_000,
  });
  const [catchUpRate, catchUpRange] = spread(catchUp);
  const [p99, p99Range] = spread(
    fanIn.map((r) => r.p99),
    1,
  );
  const [p50] = spread(
    fanIn.map((r) => r.p50),
    1,
  );
  const [fanInRate] = spread(fanIn.map((r) => r.perSecond));
  const [cpu] = spread(
    fanIn.map((r) => r.cpuPercent),
    0,
  );
  const [framesPerCommit] = spread(
    fanIn.map((r) => r.commits.unitsPerGroup),
    0,
  );
  const [commitMs] = spread(
    fanIn.map((r) => r.commits.p50Ms),
    1,
  );
  ctx.stand({
    target: 'aggregator on PostgreSQL: catch-up of 1,000,000 records >= 150,000 records/s',
    figure: `${count(catchUpRate)} records/s (${catchUpRange})`,
    met: catchUpRate >= 150_000,
  });
  ctx.stand({
    target: 'aggregator on PostgreSQL: 1,000 engines at 10 samples/s, p99 ingest latency < 100 ms',
    figure: `p99 ${p99.toFixed(1)} ms, ${count(fanInRate)} of 10,000 records/s persisted`,
    met: p99 < 100 && fanInRate >= 9_500,
  });
  const aggregatorTable = table(
    `The aggregator on PostgreSQL (${ctx.runs} runs)`,
    ['measure', 'median', 'min – max', 'target'],
    [
      [`catch-up, ${count(n)} records from one engine (records/s)`, catchUpRate, catchUpRange, '>= 150,000'],
      [
        `fan-in, 1,000 engines at 10 samples/s: p99 ingest latency (ms; p50 ${p50.toFixed(1)}, ${count(fanInRate)} records/s, aggregator CPU ${cpu.toFixed(0)} %; commits of ${framesPerCommit.toFixed(0)} frames, ${commitMs.toFixed(1)} ms each, medians)`,
        p99.toFixed(1),
        p99Range,
        '< 100',
      ],
    ],
  );
  return `${table(
    `PostgreSQL ingest: ${count(n)} records, frames of 1000, 8 frames to a commit, PostgreSQL on this machine (${ctx.runs} runs)`,
    ['path', 'records/s (median)', 'min – max', '÷ fastest raw path', 'target'],
    PATHS.map(({ path, label }) => {
      const [m, range] = spread(results.get(path)!);
      return [label, m, range, ratio(m, limit), path === 'store' ? '>= 150,000' : ''];
    }),
  )}\n${aggregatorTable}`;
}
