import pino from 'pino';
import postgres from 'postgres';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FleetRunLedger } from '../../../src/aggregator/runs/fleetRunLedger.ts';
import { AsyncGroupCommit } from '../../../src/aggregator/store/asyncGroupCommit.ts';
import { PostgresStore } from '../../../src/aggregator/store/postgres/postgresStore.ts';
import type { StoredRun } from '../../../src/aggregator/store/runStore.ts';
import { SimulatedClock } from '../../../src/time/simulatedClock.ts';
import { freshDatabase } from '../../support/postgres.ts';
import { until } from '../../support/until.ts';

/**
 * Runs across the nodes of a fleet (a real PostgreSQL, simulated time): the abandon clock of a run whose
 * node died is its stored `since`, so it survives the node; a node adopts the runs no node follows, and
 * leaves alone those of an engine another node holds; the node that takes an engine over adopts its runs.
 */
describe('runs across the nodes of a fleet', () => {
  const ABANDON_MS = 60_000;
  let url: string;
  let admin: postgres.Sql;
  const opened: PostgresStore[] = [];

  beforeEach(async () => {
    url = await freshDatabase('fleetruns');
    admin = postgres(url, { max: 1, onnotice: () => {} });
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await admin.end();
  });

  const run = (id: string, engineId: string, state: StoredRun['state'], since: number): StoredRun => ({
    id,
    engineId,
    epoch: 'ep1',
    state,
    startedAt: since,
    endedAt: null,
    reason: null,
    method: 'm',
    phase: 'running',
    startSeq: 1,
    endSeq: null,
    since,
  });

  /** A node: its store (a fleet's), a clock, its pipeline and its run ledger. */
  const node = async (nodeId: string, clock: SimulatedClock) => {
    const store = await PostgresStore.open(url, { fleet: { nodeId, leaseMs: 60_000 } });
    opened.push(store);
    const pipeline = new AsyncGroupCommit(store);
    const ledger = new FleetRunLedger(
      { store, pipeline, clock, abandonAfterMs: ABANDON_MS, logger: pino({ level: 'silent' }) },
      async () => new Set((await store.leases!.owners()).keys()),
    );
    return { store, pipeline, ledger };
  };
  const state = async (id: string) =>
    (await admin`SELECT state, reason FROM runs WHERE id = ${id}`)[0] as { state: string; reason: string };

  it("a dead node's runs are adopted: the abandon clock counts from their stored since, and interrupts them", async () => {
    const t0 = Date.UTC(2026, 0, 1);
    const dead = await node('node-a', new SimulatedClock(t0));
    // node-a marked run-1 unconfirmed at t0 and run-2 was active when it died; nobody holds their engines.
    await dead.store.saveRun(run('run-1', 'eng-1', 'unconfirmed', t0));
    await dead.store.saveRun(run('run-2', 'eng-2', 'active', t0));
    // node-c holds eng-3 (alive): its run is node-c's.
    const alive = await node('node-c', new SimulatedClock(t0));
    await alive.store.transaction(() => alive.store.leases!.acquire('eng-3'));
    await alive.store.saveRun(run('run-3', 'eng-3', 'active', t0));

    // node-b starts 50 s later: it adopts the orphans.
    const clock = new SimulatedClock(t0 + 50_000);
    const b = await node('node-b', clock);
    await b.pipeline.run(() => b.ledger.load());
    expect(await state('run-2')).toMatchObject({ state: 'unconfirmed' });
    expect(await state('run-3')).toMatchObject({ state: 'active' });

    // run-1's clock started at t0 on node-a: 10 s more and it is interrupted (engine lost).
    await clock.advance(9_000);
    expect(await state('run-1')).toMatchObject({ state: 'unconfirmed' });
    await clock.advance(2_000);
    await until('run-1 interrupted', async () => (await state('run-1')).state === 'interrupted');
    expect(await state('run-1')).toMatchObject({ reason: 'engine lost' });
    // run-2's clock started when node-b adopted it.
    expect(await state('run-2')).toMatchObject({ state: 'unconfirmed' });
    await clock.advance(ABANDON_MS);
    await until('run-2 interrupted', async () => (await state('run-2')).state === 'interrupted');
    expect(await state('run-3')).toMatchObject({ state: 'active' });
  });

  it('the node that takes an engine over adopts its runs as stored; one that changed since is not abandoned', async () => {
    const t0 = Date.UTC(2026, 0, 1);
    const clock = new SimulatedClock(t0);
    const a = await node('node-a', clock);
    await a.store.saveRun(run('run-1', 'eng-1', 'unconfirmed', t0));
    await a.pipeline.run(() => a.ledger.load());
    expect(a.ledger.currentRun('eng-1')).toMatchObject({ id: 'run-1', state: 'unconfirmed' });

    // 10 s later node-b takes eng-1 and adopts its run; the engine says it runs it: active again. Then
    // the engine leaves node-b: unconfirmed again, since then; nobody holds it.
    const b = await node('node-b', new SimulatedClock(t0 + 10_000));
    await b.pipeline.run(async () => {
      await b.store.leases!.acquire('eng-1');
      await b.ledger.adopt('eng-1');
      await b.ledger.hello('eng-1', 'ep1', 10, { current: { runId: 'run-1', phase: 'running' } } as never);
    });
    expect(await state('run-1')).toMatchObject({ state: 'active' });
    b.ledger.linkLost('eng-1');
    await b.pipeline.flush();
    await b.store.leases!.release('eng-1');
    b.ledger.stop();
    expect(await admin`SELECT state, since FROM runs WHERE id = 'run-1'`).toEqual([
      { state: 'unconfirmed', since: String(t0 + 10_000) },
    ]);
    // node-a's abandon clock (from t0) runs out first: it reads the run again, finds it changed since, and
    // follows the stored clock instead of interrupting the run.
    await clock.advance(ABANDON_MS + 1000);
    await until('node-a follows the stored run', async () => {
      const current = a.ledger.currentRun('eng-1');
      return current?.since === t0 + 10_000;
    });
    expect(await state('run-1')).toMatchObject({ state: 'unconfirmed' });
    // …and interrupts it once that one runs out.
    await clock.advance(10_000);
    await until('run-1 interrupted', async () => (await state('run-1')).state === 'interrupted');
  });
});
