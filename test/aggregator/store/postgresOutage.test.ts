import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AsyncGroupCommit } from '../../../src/aggregator/store/asyncGroupCommit.ts';
import { PostgresStore } from '../../../src/aggregator/store/postgres/postgresStore.ts';
import { PostgresCluster } from '../../../src/faults/postgresCluster.ts';
import type { Item } from '../../../src/protocol/records.ts';
import { until } from '../../support/until.ts';
import { samples } from '../support.ts';
import { failureOf } from './backends.ts';

/**
 * PostgreSQL SIGKILLed and restarted under an open store and its group commit. A cluster of this file's
 * own: the run's shared one must stay up for the other files.
 */
describe('PostgresStore when PostgreSQL dies', () => {
  let cluster: PostgresCluster;
  let database = 0;
  let url: string;

  beforeAll(async () => {
    cluster = await PostgresCluster.create({ settings: { fsync: 'off' } });
  });
  afterAll(() => cluster?.destroy());
  beforeEach(async () => {
    url = cluster.url(`outage_${++database}`);
    const sql = postgres(cluster.url(), { max: 1, onnotice: () => {} });
    await sql.unsafe(`CREATE DATABASE outage_${database}`);
    await sql.end();
  });

  it('fails what it cannot commit, keeps everything it committed, and works again once PostgreSQL is back', async () => {
    const store = await PostgresStore.open(url, { connectTimeoutSeconds: 2 });
    try {
      expect((await store.ingest('eng-1', 'ep1', 1, samples(50))).persistedSeq).toBe(50);

      await cluster.kill();
      const lost = await failureOf(() => store.ingest('eng-1', 'ep1', 51, samples(10, 50)));
      expect(lost).toBeInstanceOf(Error);
      expect(store.availability.available).toBe(false);
      expect(store.availability.reason).toBeTruthy();
      // A failed commit moves no mark: the frame is still to be stored.
      expect(await failureOf(() => store.highWaterMark('eng-1', 'ep1'))).toBeInstanceOf(Error);

      await cluster.start();
      await store.availability.whenAvailable();
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

  it('the group commit holds its groups while PostgreSQL is away and commits them, in order, once it is back', async () => {
    const store = await PostgresStore.open(url, { connectTimeoutSeconds: 2 });
    const group = new AsyncGroupCommit(store, { availability: store.availability });
    const told: string[] = [];
    const frame = (engineId: string, from: number, items: Item[]) =>
      group.add({
        work: async () => (await store.ingest(engineId, 'ep', from, items)).persistedSeq,
        committed: (seq) => told.push(`${engineId} ${seq}`),
        failed: (error) => told.push(`${engineId} failed: ${(error as Error).message}`),
      });
    const changes: boolean[] = [];
    store.availability.onChange((available) => changes.push(available));
    try {
      frame('a', 1, samples(5));
      await group.flush();
      expect(told).toEqual(['a 5']);

      await cluster.kill();
      frame('a', 6, samples(5, 5));
      frame('b', 1, samples(3));
      await until('PostgreSQL is known to be away', () => !store.availability.available);
      frame('a', 11, samples(5, 10));
      // Nothing is told while it is away: no acknowledgement, no failure (the links stay up).
      await group.flush();
      expect(told).toEqual(['a 5']);
      expect(group.size).toBe(3);

      await cluster.start();
      await store.availability.whenAvailable();
      await until('the held frames are committed', () => told.length === 4, undefined, { maxSteps: 100_000 });
      expect(told).toEqual(['a 5', 'a 10', 'b 3', 'a 15']);
      expect(changes).toEqual([false, true]);
      expect(group.heldBack).toBeGreaterThanOrEqual(1);
      const seqs = (await store.records('a', { epoch: 'ep' })).map((r) => r.seq);
      expect(seqs).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    } finally {
      await group.close();
      await store.close();
    }
  });

  it('a group whose commit outcome is unknown is committed again, and what had committed counts as duplicates', async () => {
    const store = await PostgresStore.open(url);
    let lostReply = true;
    // The commit reaches the server, and the answer is lost (as when the connection drops just then).
    const group = new AsyncGroupCommit(
      {
        transaction: async (work) => {
          const result = await store.transaction(work);
          if (lostReply) {
            lostReply = false;
            throw Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' });
          }
          return result;
        },
      },
      { availability: store.availability },
    );
    const told: unknown[] = [];
    try {
      group.add({
        work: () => store.ingest('a', 'ep', 1, samples(4)),
        committed: (result) => told.push(result),
        failed: (error) => told.push((error as Error).message),
      });
      await group.flush();
      await until('the frame is told', () => told.length === 1);
      expect(told).toEqual([{ persistedSeq: 4, inserted: 0, duplicates: 4, gaps: 0 }]);
      expect(group.heldBack).toBe(1);
      expect(await store.countRecords('a', 'ep', 1, 10)).toBe(4);
    } finally {
      await store.close();
    }
  });
});
