import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../../src/aggregator/store/postgres/postgresStore.ts';
import { freshDatabase } from '../../support/postgres.ts';

/** The sample SQL of the README's PostgreSQL section, run against a store the aggregator's code filled. */
const readme = readFileSync(join(import.meta.dirname, '../../../README.md'), 'utf8');
const section = readme.slice(readme.indexOf('### PostgreSQL'), readme.indexOf('## Commands'));
const [tagQuery, runQuery] = [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe("the README's PostgreSQL queries", () => {
  let store: PostgresStore;
  let sql: postgres.Sql;
  const now = Date.now();

  beforeAll(async () => {
    const url = await freshDatabase('readme');
    store = await PostgresStore.open(url);
    sql = postgres(url, { max: 1, onnotice: () => {} });
    await store.touchEngine('reactor-1', 'ep1', now);
    await store.ingest('reactor-1', 'ep1', 1, [
      ['s', 'reactor.temperature', now - 7_200_000, 19.5, 'degC'], // two hours ago: not in the last hour
      ['e', 'run-started', now - 60_000, { run: 'run-42' }],
      ['s', 'reactor.temperature', now - 50_000, 21.25, 'degC'],
      ['s', 'reactor.pressure', now - 40_000, 1.5, 'bar'],
      ['st', 'phase', now - 30_000, 'heating'],
      ['s', 'reactor.temperature', now - 20_000, 22.5, 'degC'],
    ]);
    await store.saveRun({
      id: 'run-42',
      engineId: 'reactor-1',
      epoch: 'ep1',
      state: 'active',
      startedAt: now - 60_000,
      endedAt: null,
      reason: null,
      method: null,
      phase: 'heating',
      startSeq: 2,
      endSeq: null,
      since: now,
    });
  });
  afterAll(async () => {
    await sql?.end();
    await store?.close();
  });

  it('finds both queries in the README', () => {
    expect(tagQuery).toMatch(/reactor\.temperature/);
    expect(runQuery).toMatch(/run-42/);
  });

  it("gives a tag's values over the last hour", async () => {
    const rows = await sql.unsafe(tagQuery!);
    expect(rows.map((r) => [(r.at as Date).getTime(), r.value, r.unit])).toEqual([
      [now - 50_000, 21.25, 'degC'],
      [now - 20_000, 22.5, 'degC'],
    ]);
  });

  it("gives a run's records from its start record on, while it runs", async () => {
    const rows = await sql.unsafe(runQuery!);
    expect(rows.map((r) => [Number(r.seq), r.kind, r.key, r.value])).toEqual([
      [2, 'event', 'run-started', { run: 'run-42' }],
      [3, 'sample', 'reactor.temperature', 21.25],
      [4, 'sample', 'reactor.pressure', 1.5],
      [5, 'state', 'phase', 'heating'],
      [6, 'sample', 'reactor.temperature', 22.5],
    ]);
  });
});
