import type Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { RunTracker } from '../../src/engine/runTracker.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { tempDbPath } from '../support/tempDb.ts';
import { until } from '../support/until.ts';

/**
 * The run ledger follows the store: what a transaction changed of the runs is put back when it rolls
 * back, and `run` events go out only once it has committed. The failure is a real one: SQLite's limit on
 * the database size (`max_page_count`) makes an insert fail with SQLITE_FULL, as a full disk would.
 */
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The store's own SQLite connection (the limit is per connection). */
function connectionOf(store: SqliteStore): Database.Database {
  return (store as unknown as { db: Database.Database }).db;
}

describe('run ledger and failed commits', () => {
  it('a group that fails to commit takes back the run it completed: no event, nothing in memory; the resent end completes it', async () => {
    const clock = new SimulatedClock();
    const network = new MemoryNetwork({ clock });
    const store = new SqliteStore(tempDbPath());
    const aggregator = new Aggregator({ store, clock });
    network.listen(aggregator);
    // Two engines: the frames of both read in one turn share one group commit.
    const dispatcher = (engineId: string) =>
      new ResilientDispatcher({ engineId, connector: network, clock, random: () => 0 });
    const engine = dispatcher('eng');
    const other = dispatcher('other');
    cleanups.push(async () => {
      await engine.close();
      await other.close();
      await aggregator.close();
    });
    const runs = new RunTracker(engine, clock);
    const events: string[] = [];
    aggregator.on('run', (run) => events.push(`${run.id} ${run.state}`));
    const failures: string[] = [];
    aggregator.on('protocolError', (error) => failures.push(error.code));
    await until('connected', () => engine.state === 'connected' && other.state === 'connected', clock);
    runs.started('r1');
    await until('run active', async () => (await aggregator.run('r1'))?.state === 'active', clock);

    // The disk fills up: a few pages left, far fewer than the large sample needs.
    const db = connectionOf(store);
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages + 10}`);
    // In one turn: the run's end (its frame gets a savepoint, and is stored in it), and the other engine's
    // large sample, whose insert fails and rolls the whole group back.
    runs.completed();
    other.send({ kind: 'sample', tag: 'blob', value: 'x'.repeat(200_000) });
    await until(
      'the group failed',
      () => failures.filter((code) => code === 'internal-error').length === 2,
      clock,
    );
    // Nothing of the end is said or remembered. Its link is gone (closed on the failure), so the run is
    // unconfirmed, not completed.
    expect(events).toEqual(['r1 active', 'r1 unconfirmed']);
    expect((await aggregator.run('r1'))?.state).toBe('unconfirmed');
    expect(aggregator.engine('eng')?.currentRun?.id).toBe('r1');

    // Space again: the engine sends the end again, and it completes the run.
    db.pragma('max_page_count = 1073741823');
    const drained = (d: ResilientDispatcher) => d.state === 'connected' && d.stats.backlog === 0;
    await until('drained', () => drained(engine) && drained(other), clock);
    expect(await aggregator.run('r1')).toMatchObject({
      state: 'completed',
      endedAt: runs.snapshot().last?.endedAt,
    });
    expect(events).toEqual(['r1 active', 'r1 unconfirmed', 'r1 completed']);
    expect(await aggregator.listRuns({ engineId: 'eng', states: ['active', 'unconfirmed'] })).toEqual([]);
  });
});
