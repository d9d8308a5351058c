import { afterEach, describe, expect, it } from 'vitest';
import { REASON_ENGINE_RESTARTED } from '../../machines/runReconciliation.ts';
import { Aggregator, type RunView } from '../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { RunTracker } from '../../src/engine/runTracker.ts';
import type { Item } from '../../src/protocol/records.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { capturedLogger, type LogLine } from '../support/logCapture.ts';
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
  const { logger, lines: logs } = capturedLogger();
  const aggregator = new Aggregator({
    store: new SqliteStore(path),
    clock,
    abandonAfterMs: ABANDON_MS,
    logger,
  });
  network.listen(aggregator);
  const announced: RunView[] = [];
  aggregator.on('run', (run) => announced.push(run));
  return { aggregator, announced, logs };
}

/** What the log says of runs (level, message and the fields named). */
function said(logs: LogLine[], fields: string[]) {
  return logs
    .filter((line) => /run/.test(line.msg))
    .map((line) => ({
      level: line.level,
      msg: line.msg,
      ...Object.fromEntries(fields.filter((f) => f in line).map((f) => [f, line[f]])),
    }));
}

async function rig(path = ':memory:') {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  let { aggregator, announced, logs } = aggregatorOn(path, clock, network);
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
    get logs() {
      return logs;
    },
    /** The aggregator process dies and a new one starts on the same store. */
    async restart() {
      network.refuseConnects();
      network.closeAll();
      await aggregator.close();
      ({ aggregator, announced, logs } = aggregatorOn(path, clock, network));
      // The runs and engines the store knows are loaded (through the aggregator's pipeline).
      await aggregator.ready;
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
    await until('persisted', async () => (await rt.aggregator.run('r1'))?.state === 'active', rt.clock);
    await rt.restart();
    expect(await rt.aggregator.run('r1')).toMatchObject({ state: 'unconfirmed', reason: null });
    expect(rt.aggregator.engine('e')?.currentRun?.id).toBe('r1');
    // The engine does not come back: the abandon period runs from when the run became unconfirmed.
    const since = (await rt.aggregator.run('r1'))!.since;
    await rt.restart();
    expect((await rt.aggregator.run('r1'))?.state).toBe('unconfirmed');
    await rt.clock.advance(since + ABANDON_MS - rt.clock.now() - 1);
    expect((await rt.aggregator.run('r1'))?.state).toBe('unconfirmed');
    await rt.clock.advance(1);
    expect(await rt.aggregator.run('r1')).toMatchObject({
      state: 'interrupted',
      reason: 'engine lost',
      outcome: 'interrupted',
    });
    // It comes back running it: the run is reopened.
    rt.network.refuseConnects(false);
    await until('back', rt.synced, rt.clock);
    await until('reopened', async () => (await rt.aggregator.run('r1'))?.state === 'active', rt.clock);
    expect(await rt.aggregator.run('r1')).toMatchObject({ reason: null, outcome: null });
  });
});

describe('an aggregator that restarts with settled runs', () => {
  it('leaves them settled: none is the current run, a second start of one is ignored', async () => {
    const rt = await rig(tempDbPath());
    rt.runs.started('r1');
    rt.runs.completed();
    await until('completed', async () => (await rt.aggregator.run('r1'))?.state === 'completed', rt.clock);
    await rt.restart();
    expect(rt.aggregator.engine('e')?.currentRun).toBeNull();
    rt.network.refuseConnects(false);
    await until('back', rt.synced, rt.clock);
    rt.engine.send({ kind: 'event', name: 'run.started', data: { runId: 'r1' } });
    await until('sent', rt.synced, rt.clock);
    expect((await rt.aggregator.run('r1'))?.state).toBe('completed');
    expect(rt.aggregator.engine('e')?.currentRun).toBeNull();
  });
});

describe('a run listener that throws', () => {
  it('is logged, and the run is kept', async () => {
    const rt = await rig();
    rt.aggregator.on('run', () => {
      throw new Error('listener broke');
    });
    rt.runs.started('r1');
    await until('sent', rt.synced, rt.clock);
    expect((await rt.aggregator.run('r1'))?.state).toBe('active');
    expect(rt.logs.filter((line) => line.msg === 'a run listener failed')).toMatchObject([
      { level: 50, runId: 'r1', err: { message: 'listener broke' } },
    ]);
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
    expect(await rt.aggregator.run('r1')).toMatchObject({ state: 'active', phase: 'paused' });
    expect(await rt.aggregator.run('ghost')).toBeUndefined();
    expect(rt.announced.filter((r) => r.id === 'r1').map((r) => r.phase)).toEqual(['running', 'paused']);
  });

  it('a record without a runId, an unknown run record and a second start change nothing', async () => {
    const rt = await rig();
    rt.runs.started('r1', 'mix');
    rt.engine.send({ kind: 'event', name: 'run.completed', data: { reason: 'no id' } });
    rt.engine.send({ kind: 'event', name: 'run.rewound', data: { runId: 'r1' } });
    rt.engine.send({ kind: 'event', name: 'run.started', data: { runId: 'r1', method: 'other' } });
    await until('sent', rt.synced, rt.clock);
    expect((await rt.aggregator.listRuns()).map((r) => [r.id, r.state, r.method])).toEqual([
      ['r1', 'active', 'mix'],
    ]);
    expect(rt.announced).toHaveLength(1);
    // Each is told in the log, with what identifies it (the run's state once the group is committed).
    expect(said(rt.logs, ['engineId', 'runId', 'seq', 'name', 'state', 'reason'])).toEqual([
      { level: 40, msg: 'run record without a runId ignored', engineId: 'e', seq: 2, name: 'run.completed' },
      { level: 20, msg: 'unknown run record ignored', engineId: 'e', name: 'run.rewound' },
      {
        level: 40,
        msg: 'run started twice: the second start is ignored',
        engineId: 'e',
        runId: 'r1',
        seq: 4,
      },
      { level: 30, msg: 'run r1 active', engineId: 'e', runId: 'r1', state: 'active', reason: null },
    ]);
  });

  it('an end for a run that ended already is ignored', async () => {
    const rt = await rig();
    rt.runs.started('r1');
    rt.runs.completed();
    await until('sent', rt.synced, rt.clock);
    const done = (await rt.aggregator.run('r1'))!;
    rt.engine.send({ kind: 'event', name: 'run.failed', data: { runId: 'r1', reason: 'late' } });
    await until('sent', rt.synced, rt.clock);
    expect(await rt.aggregator.run('r1')).toEqual(done);
    expect(done).toMatchObject({ state: 'completed', outcome: 'completed', reason: null });
    expect(said(rt.logs, ['engineId', 'runId', 'state']).at(-1)).toEqual({
      level: 40,
      msg: 'end record for a settled run ignored',
      engineId: 'e',
      runId: 'r1',
      state: 'completed',
    });
  });

  it('each run says its outcome, and the current run is the newest open one', async () => {
    const rt = await rig();
    rt.runs.started('a');
    rt.runs.failed('jammed');
    await rt.clock.advance(10);
    rt.runs.started('b');
    await until('sent', rt.synced, rt.clock);
    expect(await rt.aggregator.run('a')).toMatchObject({
      state: 'failed',
      outcome: 'failed',
      reason: 'jammed',
    });
    expect(await rt.aggregator.run('b')).toMatchObject({ state: 'active', outcome: null });
    // A second engine process in the same epoch is not possible; a run started by hand is: both open.
    await rt.clock.advance(10);
    rt.engine.send({ kind: 'event', name: 'run.started', data: { runId: 'c' } });
    await until('sent', rt.synced, rt.clock);
    expect(rt.aggregator.engine('e')?.currentRun?.id).toBe('c');
  });
});

describe('a run whose start record is committed after its link is gone', () => {
  /** The ledger of an aggregator with no engine linked, told by hand what its sessions would tell it. */
  async function ledger() {
    const { logger } = capturedLogger();
    const aggregator = new Aggregator({
      store: new SqliteStore(':memory:'),
      clock: new SimulatedClock(),
      abandonAfterMs: ABANDON_MS,
      logger,
    });
    cleanups.push(() => aggregator.close());
    await aggregator.ready;
    const inTransaction = <T>(work: () => Promise<T>) => aggregator.groupCommit.run(work);
    return { aggregator, runs: aggregator.runs, inTransaction };
  }
  const started = (seq: number, runId: string) => ['e', 'run.started', seq, { runId }] as Item;
  const completed = (seq: number, runId: string) => ['e', 'run.completed', seq, { runId }] as Item;

  it('is interrupted as restarted once committed, when the engine is already back in a new epoch', async () => {
    const { aggregator, runs, inTransaction } = await ledger();
    // The engine restarted: its hello of epoch 2 is answered before a frame of its epoch-1 link, read
    // before that link broke, is committed. The frame starts one run and starts and ends another.
    await inTransaction(() => runs.hello('e', 'ep-2', 1, { current: null }));
    await inTransaction(() => runs.recordsPersisted('e', 'ep-2', 1, [started(1, 'new')], 0, true));
    await inTransaction(() =>
      runs.recordsPersisted(
        'e',
        'ep-1',
        1,
        [started(1, 'old'), started(2, 'short'), completed(3, 'short')],
        0,
        false,
      ),
    );
    await aggregator.groupCommit.flush();
    expect(await aggregator.run('old')).toMatchObject({
      epoch: 'ep-1',
      state: 'interrupted',
      reason: REASON_ENGINE_RESTARTED,
    });
    expect(await aggregator.run('short')).toMatchObject({ state: 'completed', reason: null });
    // The run of the new epoch is left as it is.
    expect(await aggregator.run('new')).toMatchObject({ epoch: 'ep-2', state: 'active' });
  });

  it('is unconfirmed, not interrupted, when the engine has not come back in another epoch', async () => {
    const { aggregator, runs, inTransaction } = await ledger();
    await inTransaction(() => runs.hello('e', 'ep-1', 0, { current: null }));
    await inTransaction(() => runs.recordsPersisted('e', 'ep-1', 1, [started(1, 'r')], 0, false));
    await aggregator.groupCommit.flush();
    expect(await aggregator.run('r')).toMatchObject({ epoch: 'ep-1', state: 'unconfirmed', reason: null });
  });
});
