import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator, type RunView } from '../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { RunTracker } from '../../src/engine/runTracker.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { tempDbPath } from '../support/tempDb.ts';
import { until } from '../support/until.ts';

/**
 * What the run ledger promises beyond a run's states (those are the model's): runs come back when the
 * aggregator restarts, phases are kept, records it cannot use are ignored without harm, the current run
 * is the newest open one, and each run says its outcome.
 */
const ABANDON_MS = 60_000;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function aggregatorOn(path: string, clock: SimulatedClock, network: MemoryNetwork) {
  const aggregator = new Aggregator({ store: new SqliteStore(path), clock, abandonAfterMs: ABANDON_MS });
  network.listen(aggregator);
  const announced: RunView[] = [];
  aggregator.on('run', (run) => announced.push(run));
  return { aggregator, announced };
}

async function rig(path = ':memory:') {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  let { aggregator, announced } = aggregatorOn(path, clock, network);
  const engine = new ResilientDispatcher({
    engineId: 'e',
    connector: network,
    clock,
    random: () => 0,
    retry: { initialMs: 500, maxMs: 500 },
    snapshot: () => runs.snapshot(),
  });
  const runs: RunTracker = new RunTracker(engine, clock);
  cleanups.push(async () => {
    await engine.close();
    await aggregator.close();
  });
  const rt = {
    clock,
    network,
    engine,
    runs,
    get aggregator() {
      return aggregator;
    },
    get announced() {
      return announced;
    },
    /** The aggregator process dies and a new one starts on the same store. */
    async restart() {
      network.refuseConnects();
      network.closeAll();
      await aggregator.close();
      ({ aggregator, announced } = aggregatorOn(path, clock, network));
    },
    synced: () => engine.state === 'connected' && engine.stats.backlog === 0,
  };
  await until('connected', rt.synced, clock);
  return rt;
}

describe('an aggregator that restarts', () => {
  it('brings runs back: an active one unconfirmed until its engine returns, an unconfirmed one still abandoned on time', async () => {
    const rt = await rig(tempDbPath());
    rt.runs.started('r1');
    await until('persisted', () => rt.aggregator.run('r1')?.state === 'active', rt.clock);
    await rt.restart();
    expect(rt.aggregator.run('r1')).toMatchObject({ state: 'unconfirmed', reason: null });
    expect(rt.aggregator.engine('e')?.currentRun?.id).toBe('r1');
    // The engine does not come back: the abandon period runs from when the run became unconfirmed.
    const since = rt.aggregator.run('r1')!.since;
    await rt.restart();
    expect(rt.aggregator.run('r1')?.state).toBe('unconfirmed');
    await rt.clock.advance(since + ABANDON_MS - rt.clock.now() - 1);
    expect(rt.aggregator.run('r1')?.state).toBe('unconfirmed');
    await rt.clock.advance(1);
    expect(rt.aggregator.run('r1')).toMatchObject({
      state: 'interrupted',
      reason: 'engine lost',
      outcome: 'interrupted',
    });
    // It comes back running it: the run is reopened.
    rt.network.refuseConnects(false);
    await until('back', rt.synced, rt.clock);
    await until('reopened', () => rt.aggregator.run('r1')?.state === 'active', rt.clock);
    expect(rt.aggregator.run('r1')).toMatchObject({ reason: null, outcome: null });
  });
});

describe('run records', () => {
  it('a phase is kept and announced; one for no run or without a phase is ignored', async () => {
    const rt = await rig();
    rt.runs.started('r1');
    rt.runs.phase('paused');
    rt.engine.send({ kind: 'event', name: 'run.phase', data: { runId: 'ghost', phase: 'x' } });
    rt.engine.send({ kind: 'event', name: 'run.phase', data: { runId: 'r1', phase: 7 } });
    await until('sent', rt.synced, rt.clock);
    expect(rt.aggregator.run('r1')).toMatchObject({ state: 'active', phase: 'paused' });
    expect(rt.aggregator.run('ghost')).toBeUndefined();
    expect(rt.announced.filter((r) => r.id === 'r1').map((r) => r.phase)).toEqual(['running', 'paused']);
  });

  it('a record without a runId, an unknown run record and a second start change nothing', async () => {
    const rt = await rig();
    rt.runs.started('r1', 'mix');
    rt.engine.send({ kind: 'event', name: 'run.completed', data: { reason: 'no id' } });
    rt.engine.send({ kind: 'event', name: 'run.rewound', data: { runId: 'r1' } });
    rt.engine.send({ kind: 'event', name: 'run.started', data: { runId: 'r1', method: 'other' } });
    await until('sent', rt.synced, rt.clock);
    expect(rt.aggregator.listRuns().map((r) => [r.id, r.state, r.method])).toEqual([['r1', 'active', 'mix']]);
    expect(rt.announced).toHaveLength(1);
  });

  it('an end for a run that ended already is ignored', async () => {
    const rt = await rig();
    rt.runs.started('r1');
    rt.runs.completed();
    await until('sent', rt.synced, rt.clock);
    const done = rt.aggregator.run('r1')!;
    rt.engine.send({ kind: 'event', name: 'run.failed', data: { runId: 'r1', reason: 'late' } });
    await until('sent', rt.synced, rt.clock);
    expect(rt.aggregator.run('r1')).toEqual(done);
    expect(done).toMatchObject({ state: 'completed', outcome: 'completed', reason: null });
  });

  it('each run says its outcome, and the current run is the newest open one', async () => {
    const rt = await rig();
    rt.runs.started('a');
    rt.runs.failed('jammed');
    await rt.clock.advance(10);
    rt.runs.started('b');
    await until('sent', rt.synced, rt.clock);
    expect(rt.aggregator.run('a')).toMatchObject({ state: 'failed', outcome: 'failed', reason: 'jammed' });
    expect(rt.aggregator.run('b')).toMatchObject({ state: 'active', outcome: null });
    // A second engine process in the same epoch is not possible; a run started by hand is: both open.
    await rt.clock.advance(10);
    rt.engine.send({ kind: 'event', name: 'run.started', data: { runId: 'c' } });
    await until('sent', rt.synced, rt.clock);
    expect(rt.aggregator.engine('e')?.currentRun?.id).toBe('c');
  });
});
