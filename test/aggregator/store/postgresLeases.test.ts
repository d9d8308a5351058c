import postgres from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaseHeldError, LeaseLostError } from '../../../src/aggregator/store/engineLeases.ts';
import {
  MIGRATIONS,
  POSTGRES_SCHEMA_VERSION,
} from '../../../src/aggregator/store/postgres/postgresSchema.ts';
import { PostgresStore } from '../../../src/aggregator/store/postgres/postgresStore.ts';
import type { StoredRun } from '../../../src/aggregator/store/runStore.ts';
import { freshDatabase } from '../../support/postgres.ts';
import { samples } from '../support.ts';
import { failureOf } from './backends.ts';

/**
 * Leases and fencing of a fleet (several aggregators on one PostgreSQL), two nodes in one process: the
 * lease is taken at admission, refused while another node holds it, taken over once expired (its epoch
 * grows), and every ingest transaction checks it: a node that lost an engine stores nothing for it.
 * Time passing in the database is the lease's expiry moved into the past (no waiting).
 */
describe('leases and fencing (PostgreSQL fleet)', () => {
  let url: string;
  let admin: postgres.Sql;
  const opened: PostgresStore[] = [];
  const node = async (nodeId: string, leaseMs = 60_000) => {
    const store = await PostgresStore.open(url, { fleet: { nodeId, leaseMs } });
    opened.push(store);
    return { store, leases: store.leases! };
  };
  /** The engine's lease runs out now (as if its owner had stopped renewing it long enough). */
  const expire = (engineId: string) =>
    admin`UPDATE leases SET expires_at = now() - interval '1 second' WHERE engine_id = ${engineId}`;
  const recordCount = async () => (await admin`SELECT count(*)::int AS n FROM records`)[0]!.n as number;

  beforeEach(async () => {
    url = await freshDatabase('leases');
    admin = postgres(url, { max: 1, onnotice: () => {} });
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await admin.end();
  });

  it('two writers: the holder stores, the other is refused busy with how long the lease still runs', async () => {
    const a = await node('node-a', 20_000);
    const b = await node('node-b');
    expect(await a.store.transaction(() => a.leases.acquire('eng-1'))).toEqual({ epoch: 1, from: null });
    await a.store.ingest('eng-1', 'ep1', 1, samples(5));

    const refused = await failureOf(() => b.store.transaction(() => b.leases.acquire('eng-1')));
    expect(refused).toBeInstanceOf(LeaseHeldError);
    expect(refused).toMatchObject({ engineId: 'eng-1', node: 'node-a' });
    expect((refused as LeaseHeldError).retryAfterMs).toBeGreaterThan(10_000);
    expect((refused as LeaseHeldError).retryAfterMs).toBeLessThanOrEqual(20_000);
    // B never held it: anything it would store for the engine is refused before a statement is sent.
    expect(await failureOf(() => b.store.ingest('eng-1', 'ep1', 6, samples(5, 5)))).toBeInstanceOf(
      LeaseLostError,
    );
    expect(await recordCount()).toBe(5);
    expect([...(await b.leases.owners())]).toEqual([['eng-1', 'node-a']]);
    // The holder taking its own lease again keeps its epoch.
    expect(await a.store.transaction(() => a.leases.acquire('eng-1'))).toEqual({ epoch: 1, from: null });
  });

  it('an expired lease is taken over with a greater epoch; the old owner then stores nothing', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    const lostOnA: string[][] = [];
    a.leases.onLost((ids) => lostOnA.push(ids));
    await a.store.transaction(() => a.leases.acquire('eng-1'));
    await a.store.transaction(() => a.leases.acquire('eng-2'));
    await a.store.ingest('eng-1', 'ep1', 1, samples(5));

    await expire('eng-1');
    expect(await b.store.transaction(() => b.leases.acquire('eng-1'))).toEqual({ epoch: 2, from: 'node-a' });
    await b.store.ingest('eng-1', 'ep1', 6, samples(5, 5));

    // A (paused, say) still believes it holds eng-1: its transaction, eng-2's records with it, is refused.
    const fenced = await failureOf(() =>
      a.store.transaction(async () => {
        await a.store.ingest('eng-2', 'ep1', 1, samples(3));
        await a.store.ingest('eng-1', 'ep1', 6, samples(5, 5));
      }),
    );
    expect(fenced).toBeInstanceOf(LeaseLostError);
    expect((fenced as LeaseLostError).engineIds).toEqual(['eng-1']);
    expect(lostOnA).toEqual([['eng-1']]);
    expect(a.leases.held()).toEqual(['eng-2']);
    expect(await recordCount()).toBe(10);
    expect(await a.store.highWaterMark('eng-2', 'ep1')).toBe(0);
    // eng-2 is still A's: sent again, it is stored.
    expect((await a.store.ingest('eng-2', 'ep1', 1, samples(3))).inserted).toBe(3);
    // eng-1 is forgotten already; eng-2 is renewed.
    expect(await a.leases.renew()).toEqual({ lost: [] });
    expect([...(await a.leases.owners())].sort()).toEqual([
      ['eng-1', 'node-b'],
      ['eng-2', 'node-a'],
    ]);
  });

  it('a stale epoch is refused even when nobody holds the lease now; taking it again stores again', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    await a.store.transaction(() => a.leases.acquire('eng-1'));
    await expire('eng-1');
    await b.store.transaction(() => b.leases.acquire('eng-1'));
    await b.leases.release('eng-1');
    expect(b.leases.held()).toEqual([]);
    expect(await failureOf(() => a.store.ingest('eng-1', 'ep1', 1, samples(2)))).toBeInstanceOf(
      LeaseLostError,
    );
    // Released: A takes it at once (no waiting for an expiry), with the next epoch.
    expect(await a.store.transaction(() => a.leases.acquire('eng-1'))).toEqual({ epoch: 3, from: 'node-b' });
    expect((await a.store.ingest('eng-1', 'ep1', 1, samples(2))).inserted).toBe(2);
  });

  it('an expired lease is refused in the ingest transaction even before anyone takes it over', async () => {
    const a = await node('node-a');
    await a.store.transaction(() => a.leases.acquire('eng-1'));
    await a.store.ingest('eng-1', 'ep1', 1, samples(2));
    await expire('eng-1');
    expect(await failureOf(() => a.store.ingest('eng-1', 'ep1', 3, samples(2, 2)))).toBeInstanceOf(
      LeaseLostError,
    );
    expect(await recordCount()).toBe(2);
  });

  it('renewal extends the leases held and reports the ones another node took', async () => {
    const a = await node('node-a', 5_000);
    const b = await node('node-b', 5_000);
    await a.store.transaction(() => a.leases.acquire('eng-1'));
    await a.store.transaction(() => a.leases.acquire('eng-2'));
    await admin`UPDATE leases SET expires_at = now() + interval '1 second'`;
    expect(await a.leases.renew()).toEqual({ lost: [] });
    const [row] = await admin`SELECT min(expires_at - now()) AS left FROM leases`;
    expect(String(row!.left)).toMatch(/^00:00:0[45]/);

    await expire('eng-2');
    await b.store.transaction(() => b.leases.acquire('eng-2'));
    expect(await a.leases.renew()).toEqual({ lost: ['eng-2'] });
    expect(a.leases.held()).toEqual(['eng-1']);
  });

  it('a lease taken in a transaction that rolls back is not held', async () => {
    const a = await node('node-a');
    await failureOf(() =>
      a.store.transaction(async () => {
        await a.leases.acquire('eng-1');
        throw new Error('the group fails');
      }),
    );
    expect(a.leases.held()).toEqual([]);
    expect(await admin`SELECT count(*)::int AS n FROM leases`).toEqual([{ n: 0 }]);
  });

  it("a node does not save the runs of an engine another node holds (they are the owner's now)", async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    const run: StoredRun = {
      id: 'run-1',
      engineId: 'eng-1',
      epoch: 'ep1',
      state: 'active',
      startedAt: 1,
      endedAt: null,
      reason: null,
      method: null,
      phase: 'running',
      startSeq: 1,
      endSeq: null,
      since: 1,
    };
    await b.store.transaction(() => b.leases.acquire('eng-1'));
    await b.store.saveRun(run);
    await a.store.saveRun({ ...run, state: 'unconfirmed' });
    expect((await b.store.run('run-1'))?.state).toBe('active');
    await expire('eng-1');
    await a.store.saveRun({ ...run, state: 'interrupted' });
    expect((await b.store.run('run-1'))?.state).toBe('interrupted');
  });

  it('migrates a database of schema version 1 (one aggregator) to the fleet schema, keeping its records', async () => {
    await admin.unsafe('CREATE TABLE engine_link_schema (version integer NOT NULL)');
    await admin.unsafe('INSERT INTO engine_link_schema VALUES (1)');
    await admin.unsafe(MIGRATIONS[0]!);
    await admin.unsafe(`INSERT INTO engines (id, current_epoch) VALUES ('eng-1', 'ep1');
      INSERT INTO streams (engine_id, epoch, high_water, record_count) VALUES ('eng-1', 'ep1', 1, 1);
      INSERT INTO records (stream, seq, kind, key, t, num) VALUES (1, 1, 0, 'x', 1, 42);`);
    const a = await node('node-a');
    expect(await admin`SELECT version FROM engine_link_schema`).toEqual([
      { version: POSTGRES_SCHEMA_VERSION },
    ]);
    expect(POSTGRES_SCHEMA_VERSION).toBe(2);
    expect(await a.store.records('eng-1')).toMatchObject([{ seq: 1, value: 42 }]);
    await a.store.transaction(() => a.leases.acquire('eng-1'));
    expect((await a.store.ingest('eng-1', 'ep1', 2, samples(1, 1))).inserted).toBe(1);
  });
});
