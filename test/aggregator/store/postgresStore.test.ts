import postgres from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StreamMovedError } from '../../../src/aggregator/store/postgres/ingestBatch.ts';
import { POSTGRES_SCHEMA_VERSION } from '../../../src/aggregator/store/postgres/postgresSchema.ts';
import { PostgresStore } from '../../../src/aggregator/store/postgres/postgresStore.ts';
import { SequenceGapError } from '../../../src/aggregator/store/recordStore.ts';
import { freshDatabase } from '../../support/postgres.ts';
import { samples } from '../support.ts';
import { failureOf } from './backends.ts';

/** What is PostgreSQL's own: migrations, two writers on one database, async transactions and savepoints. */
describe('PostgresStore', () => {
  let url: string;
  let admin: postgres.Sql;
  const opened: PostgresStore[] = [];
  const open = async () => {
    const store = await PostgresStore.open(url);
    opened.push(store);
    return store;
  };

  beforeEach(async () => {
    url = await freshDatabase('pgstore');
    admin = postgres(url, { max: 1, onnotice: () => {} });
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await admin.end();
  });

  it('applies its migrations at start, once, even when two aggregators start together', async () => {
    await Promise.all([open(), open(), open()]);
    expect(await admin`SELECT version FROM engine_link_schema`).toEqual([
      { version: POSTGRES_SCHEMA_VERSION },
    ]);
    const tables =
      await admin`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`;
    expect(tables.map((t) => t.table_name)).toEqual([
      'engine_link_schema',
      'engine_links',
      'engines',
      'fleet_nodes',
      'gaps',
      'leases',
      'records',
      'runs',
      'sample_windows',
      'streams',
    ]);
  });

  it('refuses a database of a newer schema version, with a clear error, changing nothing', async () => {
    await (await open()).close();
    opened.length = 0;
    await admin`UPDATE engine_link_schema SET version = ${POSTGRES_SCHEMA_VERSION + 1}`;
    await expect(PostgresStore.open(url)).rejects.toThrow(
      new RegExp(`schema version ${POSTGRES_SCHEMA_VERSION + 1}, newer than this engine-link supports`),
    );
    expect(await admin`SELECT version FROM engine_link_schema`).toEqual([
      { version: POSTGRES_SCHEMA_VERSION + 1 },
    ]);
  });

  it("refuses another application's database that has tables of the same names, changing nothing", async () => {
    await admin`CREATE TABLE records (id serial PRIMARY KEY, note text)`;
    await expect(PostgresStore.open(url)).rejects.toThrow(
      /tables named records but no engine-link schema mark/,
    );
    const tables =
      await admin`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`;
    expect(tables.map((t) => t.table_name)).toEqual(['records']);
  });

  it('with two writers on one stream, the compare-and-set stores every record once', async () => {
    const [a, b] = [await open(), await open()];
    // Both know the stream at mark 5.
    await a.ingest('eng-1', 'ep1', 1, samples(5));
    expect(await b.highWaterMark('eng-1', 'ep1')).toBe(5);
    // A stores 6..10; B, still at 5, tries the same frame: its compare-and-set fails, nothing is stored.
    await a.ingest('eng-1', 'ep1', 6, samples(5, 5));
    const moved = await failureOf(() => b.ingest('eng-1', 'ep1', 6, samples(5, 5)));
    expect(moved).toBeInstanceOf(StreamMovedError);
    expect((moved as Error).message).toMatch(
      /another writer moved the high-water mark of engine eng-1 epoch ep1/,
    );
    // Sent again, B reads the mark anew: all duplicates.
    expect(await b.ingest('eng-1', 'ep1', 6, samples(5, 5))).toEqual({
      persistedSeq: 10,
      inserted: 0,
      duplicates: 5,
      gaps: 0,
    });

    // At the same time, many times over: each frame stored by exactly one of them.
    for (let from = 11; from <= 200; from += 10) {
      await Promise.allSettled([
        a.ingest('eng-1', 'ep1', from, samples(10, from - 1)),
        b.ingest('eng-1', 'ep1', from, samples(10, from - 1)),
      ]);
      // Whoever lost sends it again, as an engine whose frame was not acknowledged does.
      await a.ingest('eng-1', 'ep1', from, samples(10, from - 1));
    }
    const rows = await admin`SELECT seq FROM records ORDER BY seq`;
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect((await a.engineSummaries())[0]).toMatchObject({ persistedSeq: 200, persistedCount: 200 });
  });

  it('sends the frames of one transaction as one batch, at commit or before a read inside it', async () => {
    const store = await open();
    await store.transaction(async () => {
      await store.ingest('eng-1', 'ep1', 1, samples(3));
      await store.ingest('eng-2', 'ep1', 1, samples(2));
      await store.ingest('eng-1', 'ep1', 4, samples(3, 3));
      // Nothing sent yet (one batch at commit), but what is read in the transaction includes it.
      expect(await admin`SELECT count(*)::int AS n FROM records`).toEqual([{ n: 0 }]);
      expect(await store.countRecords('eng-1', 'ep1', 1, 6)).toBe(6);
    });
    expect(await store.highWaterMark('eng-1', 'ep1')).toBe(6);
    expect(await admin`SELECT count(*)::int AS n FROM records`).toEqual([{ n: 8 }]);

    const failure = await failureOf(() =>
      store.transaction(async () => {
        await store.ingest('eng-1', 'ep1', 7, samples(2, 6));
        await store.ingest('eng-3', 'ep1', 1, samples(1));
        throw new Error('the group fails');
      }),
    );
    expect((failure as Error).message).toBe('the group fails');
    // The marks it moved in memory are taken back with it.
    expect(await store.highWaterMark('eng-1', 'ep1')).toBe(6);
    expect(await store.highWaterMark('eng-3', 'ep1')).toBe(0);
    expect(await failureOf(() => store.ingest('eng-1', 'ep1', 9, samples(1)))).toBeInstanceOf(
      SequenceGapError,
    );
    expect((await store.ingest('eng-1', 'ep1', 7, samples(2, 6))).inserted).toBe(2);
    expect(await admin`SELECT count(*)::int AS n FROM records`).toEqual([{ n: 10 }]);
  });
});
