import { describe, expect, it } from 'vitest';
import { type RunReconciliationEvent, runReconciliationMachine } from '../../machines/runReconciliation.ts';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../src/aggregator/sqliteStore.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { RunTracker } from '../../src/engine/runTracker.ts';
import type { RunSnapshot } from '../../src/protocol/messages.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { until } from '../support/until.ts';
import {
  coverageOf,
  formatCoverage,
  runReconciliationModelEvents,
  transitionCoveringPaths,
} from './support/index.ts';

/**
 * Model-based test of run reconciliation: paths generated from machines/runReconciliation.ts that
 * together take every transition, each driven through the real aggregator (sessions, run ledger, SQLite
 * store) by a real engine (ResilientDispatcher and RunTracker) over the in-memory network with a
 * simulated clock. Every event is produced as in production: run records replayed after an outage, a
 * link that dies, an engine that restarts with a new epoch, an engine that comes back without the run,
 * an engine that stays away past the abandon period. After every step the run's persisted state is
 * compared with the model's.
 */
const ABANDON_AFTER_MS = 60_000;
const paths = transitionCoveringPaths(runReconciliationMachine, runReconciliationModelEvents);

/**
 * The run starts `active`. Normally it starts while the link is up; `viaBacklog` starts it during an
 * outage and stops while its start record is being replayed (engine still catching up), for the one
 * transition that only such a run can take: its engine, once caught up, holds no end and does not run it.
 */
async function start(viaBacklog = false) {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  const aggregator = new Aggregator({
    store: new SqliteStore(':memory:'),
    clock,
    abandonAfterMs: ABANDON_AFTER_MS,
  });
  network.listen(aggregator);
  const rt = {
    clock,
    network,
    aggregator,
    engine: undefined as unknown as ResilientDispatcher,
    runs: undefined as unknown as RunTracker,
    /** When set, what the engine claims in hello instead of its tracker's snapshot. */
    claimed: undefined as RunSnapshot | undefined,
    runId: 'run-1',
    linkDown: false,
    spawn() {
      rt.engine = new ResilientDispatcher({
        engineId: 'e1',
        connector: network,
        clock,
        random: () => 0,
        retry: { initialMs: 500, maxMs: 500 },
        outbox: { batchRecords: 100 },
        snapshot: () => rt.claimed ?? rt.runs.snapshot(),
      });
      rt.runs = new RunTracker(rt.engine, clock);
    },
    state: () => aggregator.run(rt.runId)?.state,
    synced: () => rt.engine.state === 'connected' && rt.engine.stats.backlog === 0,
  };
  rt.spawn();
  await until('connected', () => rt.engine.state === 'connected', clock);
  if (viaBacklog) {
    network.refuseConnects();
    network.closeAll();
    await until('engine lost', () => aggregator.engine('e1')?.link === 'unavailable', clock);
    rt.runs.started(rt.runId, 'model-method');
    for (let i = 0; i < 2000; i++) rt.engine.send({ kind: 'sample', tag: 'T', value: i });
    rt.claimed = { current: null, last: null };
    network.delayMs = 5;
    network.refuseConnects(false);
    await until('run replayed, catch-up under way', () => rt.state() === 'active', clock, { stepMs: 1 });
    expect(aggregator.engine('e1')?.link).toBe('catching-up');
    return rt;
  }
  rt.runs.started(rt.runId, 'model-method');
  await until('run persisted', () => rt.state() === 'active', clock);
  return rt;
}

type Runtime = Awaited<ReturnType<typeof start>>;

/** Brings the link back and waits until the engine's backlog is persisted. */
async function reconnect(rt: Runtime): Promise<void> {
  rt.network.refuseConnects(false);
  rt.linkDown = false;
  await until('engine back and caught up', rt.synced, rt.clock);
  await until(
    'aggregator sees it available',
    () => rt.aggregator.engine('e1')?.link === 'available',
    rt.clock,
  );
}

async function drive(rt: Runtime, event: RunReconciliationEvent): Promise<void> {
  switch (event.type) {
    case 'LINK_LOST':
      rt.network.refuseConnects();
      rt.network.closeAll();
      rt.linkDown = true;
      await until(
        'aggregator loses the engine',
        () => rt.aggregator.engine('e1')?.link === 'unavailable',
        rt.clock,
      );
      break;
    case 'RUN_COMPLETED':
    case 'RUN_FAILED': {
      // The end happens on the engine, possibly while the link is down; it counts once persisted.
      if (event.type === 'RUN_COMPLETED') rt.runs.completed();
      else rt.runs.failed(event.reason);
      await reconnect(rt);
      break;
    }
    case 'ENGINE_RUNNING':
      await reconnect(rt);
      break;
    case 'ENGINE_NOT_RUNNING':
      // Same epoch, but the engine no longer has the run (say its process restarted over a durable
      // outbox): once its backlog is persisted, no end for the run is among it.
      rt.claimed = { current: null, last: null };
      await reconnect(rt);
      break;
    case 'ENGINE_RESTARTED':
      // The engine process dies (no goodbye, its memory outbox lost) and a new one starts: a new epoch.
      await rt.engine.close();
      rt.spawn();
      await reconnect(rt);
      break;
    case 'ABANDON_DUE':
      await rt.clock.advance(ABANDON_AFTER_MS);
      break;
  }
}

describe('runReconciliation model', () => {
  it('the generated paths take every transition of the machine', () => {
    const report = coverageOf(runReconciliationMachine, paths);
    expect(report.uncovered, formatCoverage(report)).toEqual([]);
    expect(report.ratio).toBe(1);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const rt = await start(path.steps[0]?.event.type === 'ENGINE_NOT_RUNNING');
      expect(rt.state()).toBe(path.initial);
      for (const step of path.steps) {
        await drive(rt, step.event);
        expect(rt.state(), `after ${step.event.type}`).toBe(step.expected);
        const run = rt.aggregator.run(rt.runId)!;
        // What is persisted carries the engine's times, never the aggregator's.
        if (run.state === 'completed' || run.state === 'failed')
          expect(run.endedAt).toBe(rt.runs.snapshot().last?.endedAt);
        if (run.state === 'interrupted') expect(run.reason).toMatch(/engine/);
        expect(rt.aggregator.engine('e1')?.currentRun?.id ?? null).toBe(
          run.state === 'active' || run.state === 'unconfirmed' ? rt.runId : null,
        );
      }
      await rt.engine.close();
      await rt.aggregator.close();
    });
  }
});
