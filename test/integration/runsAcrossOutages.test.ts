import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import type { RunView } from '../../src/aggregator/runs/runLedger.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { RunTracker } from '../../src/engine/runTracker.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { tempDbPath } from '../support/tempDb.ts';
import { until } from '../support/until.ts';

/**
 * Runs that start, end or fail while the engine cannot reach the aggregator are persisted exactly as they
 * happened on the engine: same ids, states, engine start and end times, record counts.
 */
const ABANDON_AFTER_MS = 10 * 60_000;

interface Rig {
  clock: SimulatedClock;
  network: MemoryNetwork;
  dbPath: string;
  aggregator: Aggregator;
  engine: ResilientDispatcher;
  runs: RunTracker;
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.engine.close();
    await r.aggregator.close();
  }
});

function spawnEngine(r: Pick<Rig, 'clock' | 'network'> & Partial<Rig>): void {
  let runs: RunTracker | undefined;
  const engine: ResilientDispatcher = new ResilientDispatcher({
    engineId: 'eng',
    connector: r.network,
    clock: r.clock,
    random: () => 0,
    snapshot: () => runs?.snapshot(),
  });
  runs = new RunTracker(engine, r.clock);
  r.engine = engine;
  r.runs = runs;
}

async function rig(): Promise<Rig> {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  const dbPath = tempDbPath();
  const aggregator = new Aggregator({
    store: new SqliteStore(dbPath),
    clock,
    abandonAfterMs: ABANDON_AFTER_MS,
  });
  network.listen(aggregator);
  const partial = { clock, network, dbPath, aggregator } as Rig;
  spawnEngine(partial);
  rigs.push(partial);
  await until('connected', () => partial.engine.state === 'connected', clock);
  return partial;
}

function samples(r: Rig, n: number): void {
  for (let i = 0; i < n; i++) r.engine.send({ kind: 'sample', tag: 'T', value: i });
}

async function cut(r: Rig): Promise<void> {
  r.network.refuseConnects();
  r.network.closeAll();
  await until('engine unavailable', () => r.aggregator.engine('eng')?.link === 'unavailable', r.clock);
  // What the run ledger makes of it is committed by the aggregator's pipeline, after the link state.
  await r.aggregator.groupCommit.flush();
}

async function restore(r: Rig): Promise<void> {
  r.network.refuseConnects(false);
  await until('caught up', () => r.engine.state === 'connected' && r.engine.stats.backlog === 0, r.clock);
  await until('available', () => r.aggregator.engine('eng')?.link === 'available', r.clock);
}

async function runsOf(
  r: Rig,
): Promise<Array<Pick<RunView, 'id' | 'state' | 'startedAt' | 'endedAt' | 'reason' | 'records'>>> {
  return (await r.aggregator.listRuns({ engineId: 'eng' }))
    .map(({ id, state, startedAt, endedAt, reason, records }) => ({
      id,
      state,
      startedAt,
      endedAt,
      reason,
      records,
    }))
    .sort((a, b) => a.startedAt - b.startedAt);
}

describe('runs across outages', () => {
  it('a run that completes during an outage is persisted as completed, with the engine times', async () => {
    const r = await rig();
    const t0 = r.clock.now();
    r.runs.started('r1');
    samples(r, 10);
    await until('active', async () => (await r.aggregator.run('r1'))?.state === 'active', r.clock);
    await cut(r);
    expect((await r.aggregator.run('r1'))?.state).toBe('unconfirmed');
    await r.clock.advance(30_000);
    samples(r, 5);
    r.runs.completed();
    const t1 = r.clock.now();
    await r.clock.advance(30_000);
    expect((await r.aggregator.run('r1'))?.state).toBe('unconfirmed');
    await restore(r);
    // 1 start + 15 samples + 1 end.
    expect(await runsOf(r)).toEqual([
      { id: 'r1', state: 'completed', startedAt: t0, endedAt: t1, reason: null, records: 17 },
    ]);
  });

  it('a run that fails during an outage is persisted as failed, with its reason', async () => {
    const r = await rig();
    const t0 = r.clock.now();
    r.runs.started('r1');
    await until('active', async () => (await r.aggregator.run('r1'))?.state === 'active', r.clock);
    await cut(r);
    await r.clock.advance(5000);
    r.runs.failed('pump jammed');
    const t1 = r.clock.now();
    await restore(r);
    expect(await runsOf(r)).toEqual([
      { id: 'r1', state: 'failed', startedAt: t0, endedAt: t1, reason: 'pump jammed', records: 2 },
    ]);
  });

  it('a run still active after the outage goes back to active as if nothing happened', async () => {
    const r = await rig();
    const t0 = r.clock.now();
    r.runs.started('r1');
    await cut(r);
    samples(r, 20);
    await r.clock.advance(20_000);
    await restore(r);
    expect(await runsOf(r)).toEqual([
      { id: 'r1', state: 'active', startedAt: t0, endedAt: null, reason: null, records: 21 },
    ]);
    expect(r.aggregator.engine('eng')?.currentRun?.id).toBe('r1');
  });

  it('two runs that start and end during one outage are both persisted', async () => {
    const r = await rig();
    await cut(r);
    const a0 = r.clock.now();
    r.runs.started('a');
    samples(r, 3);
    await r.clock.advance(1000);
    r.runs.completed();
    const a1 = r.clock.now();
    await r.clock.advance(1000);
    const b0 = r.clock.now();
    r.runs.started('b');
    samples(r, 4);
    await r.clock.advance(1000);
    r.runs.failed('overheated');
    const b1 = r.clock.now();
    await restore(r);
    expect(await runsOf(r)).toEqual([
      { id: 'a', state: 'completed', startedAt: a0, endedAt: a1, reason: null, records: 5 },
      { id: 'b', state: 'failed', startedAt: b0, endedAt: b1, reason: 'overheated', records: 6 },
    ]);
  });

  it('an engine that restarts mid-run (new epoch, no end) leaves the run interrupted, with the reason', async () => {
    const r = await rig();
    const t0 = r.clock.now();
    r.runs.started('r1');
    samples(r, 7);
    await until('persisted', () => r.engine.stats.backlog === 0, r.clock);
    const oldEpoch = r.engine.stats.epoch;
    await cut(r);
    await r.engine.close(); // the process dies: its memory outbox is gone
    spawnEngine(r);
    expect(r.engine.stats.epoch).not.toBe(oldEpoch);
    await restore(r);
    expect(await runsOf(r)).toEqual([
      {
        id: 'r1',
        state: 'interrupted',
        startedAt: t0,
        endedAt: null,
        reason: 'engine restarted during the run',
        records: 8,
      },
    ]);
  });

  /**
   * The engine is killed right after sending a run's start: the aggregator reads the frame, then the
   * link's close, and commits the frame in the next turn (group commit). The run must not start active.
   */
  async function startThenKill(r: Rig): Promise<number> {
    const t0 = r.clock.now();
    r.runs.started('r1');
    await until('start record read, not yet committed', () => r.aggregator.groupCommit.size > 0, undefined, {
      turns: 1,
    });
    r.network.refuseConnects();
    r.network.closeAll();
    await r.engine.close(); // the process is gone, and its memory outbox with it
    await until('start committed', async () => (await r.aggregator.run('r1')) !== undefined, r.clock);
    expect(r.aggregator.engine('eng')?.link).toBe('unavailable');
    return t0;
  }

  it('a run whose start is committed after its engine was killed starts unconfirmed; the restarted engine interrupts it', async () => {
    const r = await rig();
    const t0 = await startThenKill(r);
    expect((await r.aggregator.run('r1'))?.state).toBe('unconfirmed');
    spawnEngine(r);
    await restore(r);
    expect(await runsOf(r)).toEqual([
      {
        id: 'r1',
        state: 'interrupted',
        startedAt: t0,
        endedAt: null,
        reason: 'engine restarted during the run',
        records: 1,
      },
    ]);
    // The restarted process is not shown running the dead run.
    expect(r.aggregator.engine('eng')?.currentRun).toBeNull();
  });

  it('a run whose start is committed after its engine was killed is given up after --abandon-after if the engine never returns', async () => {
    const r = await rig();
    await startThenKill(r);
    spawnEngine(r); // cleanup closes it; the network refuses it meanwhile
    await r.clock.advance(ABANDON_AFTER_MS + 1000);
    expect(await r.aggregator.run('r1')).toMatchObject({ state: 'interrupted', reason: 'engine lost' });
  });

  it('an engine that never returns has its run interrupted after --abandon-after; it is reconciled when it does return', async () => {
    const r = await rig();
    const t0 = r.clock.now();
    r.runs.started('r1');
    await until('active', async () => (await r.aggregator.run('r1'))?.state === 'active', r.clock);
    await cut(r);
    await r.clock.advance(ABANDON_AFTER_MS - 1000);
    expect((await r.aggregator.run('r1'))?.state).toBe('unconfirmed');
    await r.clock.advance(2000);
    expect(await r.aggregator.run('r1')).toMatchObject({ state: 'interrupted', reason: 'engine lost' });
    samples(r, 2);
    r.runs.completed();
    const t1 = r.clock.now();
    await restore(r);
    expect(await runsOf(r)).toEqual([
      { id: 'r1', state: 'completed', startedAt: t0, endedAt: t1, reason: null, records: 4 },
    ]);
  });

  it('run states survive an aggregator restart, and reconcile afterwards', async () => {
    const r = await rig();
    const t0 = r.clock.now();
    r.runs.started('r1');
    samples(r, 3);
    await until('persisted', () => r.engine.stats.backlog === 0, r.clock);
    // The aggregator goes away (its store file stays); the engine keeps running the method.
    r.network.listen(undefined);
    r.network.closeAll();
    await r.aggregator.close();
    samples(r, 4);
    r.runs.completed();
    const t1 = r.clock.now();
    const aggregator = new Aggregator({
      store: new SqliteStore(r.dbPath),
      clock: r.clock,
      abandonAfterMs: ABANDON_AFTER_MS,
    });
    r.aggregator = aggregator;
    // Back from the store: the run was active, its engine is not connected yet.
    expect(await aggregator.run('r1')).toMatchObject({ state: 'unconfirmed', startedAt: t0 });
    r.network.listen(aggregator);
    await restore(r);
    expect(await runsOf(r)).toEqual([
      { id: 'r1', state: 'completed', startedAt: t0, endedAt: t1, reason: null, records: 9 },
    ]);
  });
});
