import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../../src/aggregator/store/postgres/postgresStore.ts';
import { PostgresCluster } from '../../../src/faults/postgresCluster.ts';
import { samples } from '../support.ts';
import { failureOf } from './backends.ts';

/**
 * PostgreSQL SIGKILLed and restarted under an open store. A cluster of this file's own: the run's shared
 * one must stay up for the other files.
 */
describe('PostgresStore when PostgreSQL dies', () => {
  let cluster: PostgresCluster;

  beforeAll(async () => {
    cluster = await PostgresCluster.create({ settings: { fsync: 'off' } });
  });
  afterAll(() => cluster?.destroy());

  it('fails what it cannot commit, keeps everything it committed, and works again once PostgreSQL is back', async () => {
    const store = await PostgresStore.open(cluster.url(), { connectTimeoutSeconds: 2 });
    try {
      expect((await store.ingest('eng-1', 'ep1', 1, samples(50))).persistedSeq).toBe(50);

      await cluster.kill();
      const lost = await failureOf(() => store.ingest('eng-1', 'ep1', 51, samples(10, 50)));
      expect(lost).toBeInstanceOf(Error);
      // A failed commit moves no mark: the frame is still to be stored.
      expect(await store.highWaterMark('eng-1', 'ep1')).toBe(50);

      await cluster.start();
      expect(await store.ingest('eng-1', 'ep1', 51, samples(10, 50))).toEqual({
        persistedSeq: 60,
        inserted: 10,
        duplicates: 0,
        gaps: 0,
      });
      const stored = await store.records('eng-1', { epoch: 'ep1' });
      expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    } finally {
      await store.close();
    }
  });
});
