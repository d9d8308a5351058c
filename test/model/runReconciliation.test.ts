import { describe, expect, it } from 'vitest';
import { type RunReconciliationEvent, runReconciliationMachine } from '../../machines/runReconciliation.ts';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
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
 * simulated clock. Every event is produced as in production: a run started on a live link or committed
 * after its link was gone, run records replayed after an outage, a link that dies, an engine that
 * restarts with a new epoch, an engine that comes back without the run, an engine that stays away past
 * the abandon period. After every step the run's persisted state is compared with the model's.
 */
const ABANDON_AFTER_MS = 60_000;
const paths = transitionCoveringPaths(runReconciliationMachine, runReconciliationModelEvents);

/** An aggregator and a connected engine; no run yet (the first step of every path makes it). */
async function start() {
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
    /** The engine time the run ended, as the engine recorded it. */
    endedAt: undefined as number | undefined,
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
  return rt;
}

type Runtime = Awaited<ReturnType<typeof start>>;

/** The link breaks and stays down (connects refused) until `reconnect`. */
async function loseLink(rt: Runtime): Promise<void> {
  rt.network.refuseConnects();
  rt.network.closeAll();
  rt.linkDown = true;
  await until(
    'aggregator loses the engine',
    () => rt.aggregator.engine('e1')?.link === 'unavailable',
    rt.clock,
  );
}

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

/** The run starts while the link is up; the aggregator learns of it at once. */
async function startOnLiveLink(rt: Runtime): Promise<void> {
  rt.runs.started(rt.runId, 'model-method');
  await until('run persisted', () => rt.state() === 'active', rt.clock);
}

/**
 * The run starts during an outage and its start record is replayed when the link comes back; the step
 * ends while the engine is still catching up. Only such a run can take `ENGINE_NOT_RUNNING` from
 * `active`: once caught up, its engine holds no end for it and does not run it (its snapshot says so).
 */
async function startViaBacklog(rt: Runtime): Promise<void> {
  await loseLink(rt);
  rt.runs.started(rt.runId, 'model-method');
  for (let i = 0; i < 2000; i++) rt.engine.send({ kind: 'sample', tag: 'T', value: i });
  rt.claimed = { current: null, last: null };
  rt.network.delayMs = 5;
  rt.network.refuseConnects(false);
  rt.linkDown = false;
  await until('run replayed, catch-up under way', () => rt.state() === 'active', rt.clock, { stepMs: 1 });
  expect(rt.aggregator.engine('e1')?.link).toBe('catching-up');
}

/**
 * The run's start record reaches the aggregator, and the link breaks before the record is committed
 * (an engine killed right after sending it): the group commit stores frames in the turn after they are
 * read, so the link's close is handled first. The run starts unconfirmed, never active.
 */
async function startAfterLinkLost(rt: Runtime): Promise<void> {
  rt.runs.started(rt.runId, 'model-method');
  // Turn by turn until the frame waits in the group commit; the close then comes before its flush.
  await until('start record read, not yet committed', () => rt.aggregator.groupCommit.size > 0, undefined, {
    turns: 1,
  });
  rt.network.refuseConnects();
  rt.network.closeAll();
  rt.linkDown = true;
  await until('run persisted', () => rt.state() !== undefined, rt.clock);
  expect(rt.aggregator.engine('e1')?.link).toBe('unavailable');
}

/** The first record of the run to arrive is its end (an engine whose start record was lost). */
function endWithoutStart(rt: Runtime, event: RunReconciliationEvent): void {
  rt.endedAt = rt.clock.now();
  const data = { runId: rt.runId, startedAt: rt.clock.now() - 1000 };
  rt.engine.send(
    event.type === 'RUN_FAILED'
      ? { kind: 'event', name: 'run.failed', data: { ...data, reason: event.reason } }
      : { kind: 'event', name: 'run.completed', data },
  );
}

async function drive(
  rt: Runtime,
  event: RunReconciliationEvent,
  next?: RunReconciliationEvent,
): Promise<void> {
  const starting = rt.state() === undefined;
  switch (event.type) {
    case 'LINK_LOST':
      if (starting) await startAfterLinkLost(rt);
      else await loseLink(rt);
      break;
    case 'RUN_COMPLETED':
    case 'RUN_FAILED': {
      if (starting) endWithoutStart(rt, event);
      // The end happens on the engine, possibly while the link is down; it counts once persisted.
      else if (event.type === 'RUN_COMPLETED') rt.runs.completed();
      else rt.runs.failed(event.reason);
      rt.endedAt ??= rt.runs.snapshot().last?.endedAt;
      await reconnect(rt);
      break;
    }
    case 'ENGINE_RUNNING':
      if (!starting) await reconnect(rt);
      else if (next?.type === 'ENGINE_NOT_RUNNING') await startViaBacklog(rt);
      else await startOnLiveLink(rt);
      break;
    case 'ENGINE_NOT_RUNNING':
      // Same epoch, but the engine no longer has the run (say its process restarted over a durable
      // outbox): once its backlog is persisted, no end for the run is among it.
      rt.claimed = { current: null, last: null };
      await reconnect(rt);
      break;
    case 'ENGINE_RESTARTED':
      if (rt.state() === 'active') {
        // No sequence of link events sends this to an active run any more: every way a link ends reaches
        // its runs before a new epoch can say hello (a start committed after its link was gone now starts
        // unconfirmed). The ledger is told of a new epoch as a session would tell it, to check that an
        // active run still cannot survive a restart.
        rt.aggregator.runs.hello('e1', 'another-epoch', 0, { current: null, last: null });
        break;
      }
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
      const rt = await start();
      // `starting` is never persisted: the run does not exist before the first step.
      expect(path.initial).toBe('starting');
      expect(rt.state()).toBeUndefined();
      for (const [i, step] of path.steps.entries()) {
        await drive(rt, step.event, path.steps[i + 1]?.event);
        expect(rt.state(), `after ${step.event.type}`).toBe(step.expected);
        const run = rt.aggregator.run(rt.runId)!;
        // What is persisted carries the engine's times, never the aggregator's.
        if (run.state === 'completed' || run.state === 'failed') expect(run.endedAt).toBe(rt.endedAt);
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
