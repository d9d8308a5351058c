// 8. PostgreSQL: the aggregator's PostgreSQL store against the raw limits of the same PostgreSQL, in the
// same run: multi-row INSERT … SELECT unnest(…) and COPY, 1,000,000 records in frames of 1000, 8 frames
// to a commit. PostgreSQL is a throwaway cluster on this machine (fsync on, as a real server), each path a
// database of its own.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { PostgresCluster } from '../../src/faults/postgresCluster.ts';
import { type BenchContext, count, ratio, runChild, spread, table } from '../support.ts';

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
  try {
    const admin = postgres(cluster.url(), { max: 1, onnotice: () => {} });
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
  return table(
    `PostgreSQL ingest: ${count(n)} records, frames of 1000, 8 frames to a commit, PostgreSQL on this machine (${ctx.runs} runs)`,
    ['path', 'records/s (median)', 'min – max', '÷ fastest raw path', 'target'],
    PATHS.map(({ path, label }) => {
      const [m, range] = spread(results.get(path)!);
      return [label, m, range, ratio(m, limit), path === 'store' ? '>= 150,000' : ''];
    }),
  );
}
