import { expect } from 'vitest';
import {
  REASON_ENGINE_LOST,
  REASON_ENGINE_RESTARTED,
  REASON_NOT_RUNNING,
  type RunReconciliationEvent,
  runReconciliationMachine,
} from '../../../machines/runReconciliation.ts';
import { Aggregator } from '../../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../../src/aggregator/sqliteStore.ts';
import { ResilientDispatcher } from '../../../src/engine/resilientDispatcher.ts';
import { RunTracker } from '../../../src/engine/runTracker.ts';
import type { RunSnapshot } from '../../../src/protocol/messages.ts';
import { SimulatedClock } from '../../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../../src/transport/memoryTransport.ts';
import { until } from '../../support/until.ts';
import type { RuntimeHarness } from '../support/modelSuite.ts';
import type { ModelPath } from '../support/paths.ts';
import type { RuntimeRecorder } from '../support/runtimeRecorder.ts';

/**
 * Run reconciliation (machines/runReconciliation.ts) run by the real aggregator (sessions, run ledger,
 * SQLite store) against a real engine (ResilientDispatcher and RunTracker) over the in-memory network,
 * on a simulated clock. Every event is caused as in production: run records replayed after an outage, a
 * link that dies, an engine that restarts with a new epoch, an engine that comes back without the run,
 * an engine that stays away past the abandon period.
 */
const ENGINE = 'e1';
/** What one hello of the engine said, and when (simulated time). */
interface Hello {
  readonly at: number;
  readonly epoch: string;
  readonly lastSeq: number;
  readonly runId: string | null;
}
const RUN = 'run-1';
const ABANDON_AFTER_MS = 60_000;
/** Simulated time an outage's end may take to settle (reconnect, catch up), in 10 ms steps. */
const SETTLE_STEPS = 3000;

export interface RunRuntime {
  readonly clock: SimulatedClock;
  readonly network: MemoryNetwork;
  readonly aggregator: Aggregator;
  engine: ResilientDispatcher;
  runs: RunTracker;
  /** When set, what the engine claims in hello instead of its tracker's snapshot. */
  claimed: RunSnapshot | undefined;
  /** The epoch the run started in, and the engine's clock then. */
  readonly runEpoch: string;
  readonly startedAt: number;
  /** The run's end on the engine, once it ended there. */
  end: { outcome: 'completed' | 'failed'; t: number; reason?: string } | undefined;
  /** What the engine's hellos said, oldest first: its epoch, last sequence number, and the run it runs. */
  readonly hellos: Hello[];
  /** Outages as the aggregator saw them: from (unavailable) to (available again, or undefined). */
  readonly outages: Array<{ from: number; to: number | undefined }>;
  linkUp: boolean;
}

function spawn(rt: RunRuntime): void {
  rt.engine = new ResilientDispatcher({
    engineId: ENGINE,
    connector: rt.network,
    clock: rt.clock,
    random: () => 0,
    retry: { initialMs: 500, maxMs: 500 },
    outbox: { batchRecords: 100 },
    snapshot: () => {
      const snapshot = rt.claimed ?? rt.runs.snapshot();
      rt.hellos.push({
        at: rt.clock.now(),
        epoch: rt.engine.stats.epoch,
        lastSeq: rt.engine.stats.lastSeq,
        runId: snapshot.current?.runId ?? null,
      });
      return snapshot;
    },
  });
  rt.runs = new RunTracker(rt.engine, rt.clock);
}

const linkOf = (rt: RunRuntime) => rt.aggregator.engine(ENGINE)?.link ?? 'offline';
const runOf = (rt: RunRuntime) => rt.aggregator.run(RUN)!;
const synced = (rt: RunRuntime) =>
  rt.engine.state === 'connected' && rt.engine.stats.backlog === 0 && linkOf(rt) === 'available';

/**
 * The run starts `active`. Normally it starts while the link is up; when the path begins with the one
 * transition only such a run can take (its engine, once caught up, holds no end and does not run it),
 * it starts during an outage and the path begins while its start record is being replayed.
 */
async function start(
  recorder: RuntimeRecorder,
  path: ModelPath<RunReconciliationEvent>,
): Promise<RunRuntime> {
  const viaBacklog = path.steps[0]?.event.type === 'ENGINE_NOT_RUNNING';
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  const aggregator = new Aggregator({
    store: new SqliteStore(':memory:'),
    clock,
    abandonAfterMs: ABANDON_AFTER_MS,
    inspect: recorder.inspect,
  });
  network.listen(aggregator);
  const rt = {
    clock,
    network,
    aggregator,
    claimed: undefined,
    end: undefined,
    hellos: [],
    outages: [],
    linkUp: true,
  } as unknown as RunRuntime;
  aggregator.on('engineState', ({ link, since }) => {
    const open = rt.outages.at(-1);
    if ((link === 'unavailable' || link === 'offline') && (!open || open.to !== undefined))
      rt.outages.push({ from: since, to: undefined });
    if (link === 'available' && open && open.to === undefined) open.to = since;
  });
  spawn(rt);
  await until('connected', () => synced(rt), clock, { maxSteps: SETTLE_STEPS });
  if (viaBacklog) {
    await loseLink(rt);
    rt.runs.started(RUN, 'model-method');
    for (let i = 0; i < 2000; i++) rt.engine.send({ kind: 'sample', tag: 'T', value: i });
    rt.claimed = { current: null, last: null };
    network.delayMs = 5;
    network.refuseConnects(false);
    rt.linkUp = true;
    await until('run replayed, catch-up under way', () => aggregator.run(RUN)?.state === 'active', clock, {
      stepMs: 1,
    });
    expect(linkOf(rt)).toBe('catching-up');
  } else {
    rt.runs.started(RUN, 'model-method');
    await until('run persisted', () => aggregator.run(RUN)?.state === 'active', clock, {
      maxSteps: SETTLE_STEPS,
    });
  }
  return Object.assign(rt, {
    runEpoch: rt.engine.stats.epoch,
    startedAt: rt.runs.snapshot().current!.startedAt,
  });
}

async function loseLink(rt: RunRuntime): Promise<void> {
  rt.network.refuseConnects();
  rt.network.closeAll();
  rt.linkUp = false;
  await until('aggregator loses the engine', () => linkOf(rt) === 'unavailable', rt.clock, {
    maxSteps: SETTLE_STEPS,
  });
}

/** Brings the link back (after losing it first, when it is up) and waits until the engine is caught up. */
async function comeBack(rt: RunRuntime): Promise<void> {
  if (rt.linkUp) await loseLink(rt);
  rt.network.refuseConnects(false);
  rt.linkUp = true;
  await until('engine back and caught up', () => synced(rt), rt.clock, { maxSteps: SETTLE_STEPS });
}

/** The engine ends the run (or, not running it any more, writes another end record for it). */
function endRun(rt: RunRuntime, outcome: 'completed' | 'failed', reason: string | undefined): void {
  if (rt.runs.currentRun?.runId === RUN) {
    if (outcome === 'completed') rt.runs.completed();
    else rt.runs.failed(reason!);
    rt.end ??= { outcome, t: rt.clock.now(), ...(reason === undefined ? {} : { reason }) };
    return;
  }
  rt.engine.send({
    kind: 'event',
    name: `run.${outcome}`,
    data: { runId: RUN, ...(reason ? { reason } : {}) },
  });
}

async function cause(rt: RunRuntime, event: RunReconciliationEvent): Promise<boolean> {
  const state = runOf(rt).state;
  switch (event.type) {
    case 'LINK_LOST':
      if (!rt.linkUp) return false;
      await loseLink(rt);
      break;
    case 'RUN_COMPLETED':
    case 'RUN_FAILED':
      endRun(
        rt,
        event.type === 'RUN_COMPLETED' ? 'completed' : 'failed',
        event.type === 'RUN_FAILED' ? event.reason : undefined,
      );
      if (rt.linkUp) await until('end persisted', () => synced(rt), rt.clock, { maxSteps: SETTLE_STEPS });
      else await comeBack(rt);
      break;
    case 'ENGINE_RUNNING':
      // Only a new hello tells it: a live run's link is lost first (it is unconfirmed by then).
      if (state === 'active') return false;
      if (rt.runs.currentRun?.runId !== RUN)
        rt.claimed = { current: { runId: RUN, phase: 'running', startedAt: rt.startedAt }, last: null };
      else rt.claimed = undefined;
      await comeBack(rt);
      break;
    case 'ENGINE_NOT_RUNNING':
      if (state === 'active' && linkOf(rt) !== 'catching-up') return false;
      rt.claimed = { current: null, last: null };
      if (linkOf(rt) === 'catching-up') {
        rt.network.delayMs = 0;
        await until('caught up', () => synced(rt), rt.clock, { maxSteps: SETTLE_STEPS });
      } else await comeBack(rt);
      break;
    case 'ENGINE_RESTARTED':
      // A live run's link is lost when its engine goes (it is unconfirmed by then).
      if (state === 'active') return false;
      // The engine process dies (its memory outbox lost) and a new one starts: a new epoch.
      if (rt.linkUp) await loseLink(rt);
      await rt.engine.close();
      rt.claimed = undefined;
      spawn(rt);
      await comeBack(rt);
      break;
    case 'ABANDON_DUE':
      await rt.clock.advance(ABANDON_AFTER_MS);
      break;
  }
  return true;
}

/** What the README's table says the run shows after each kind of event. */
function checkStep(
  rt: RunRuntime,
  step: { event: RunReconciliationEvent; expected: string; transitions: readonly string[] },
): void {
  if (step.transitions.length === 0) return;
  const run = runOf(rt);
  const shown = { state: run.state, reason: run.reason, endedAt: run.endedAt };
  const expected = {
    LINK_LOST: { state: 'unconfirmed', reason: null, endedAt: null },
    ENGINE_RUNNING: { state: 'active', reason: null, endedAt: null },
    RUN_COMPLETED: { state: 'completed', reason: null, endedAt: rt.end?.t },
    RUN_FAILED: { state: 'failed', reason: rt.end?.reason, endedAt: rt.end?.t },
    ENGINE_RESTARTED: { state: 'interrupted', reason: REASON_ENGINE_RESTARTED, endedAt: null },
    ENGINE_NOT_RUNNING: { state: 'interrupted', reason: REASON_NOT_RUNNING, endedAt: null },
    ABANDON_DUE: { state: 'interrupted', reason: REASON_ENGINE_LOST, endedAt: null },
  }[step.event.type];
  expect(shown).toEqual(expected);
  expect(run.since).toBeLessThanOrEqual(rt.clock.now());
}

function endPersisted(rt: RunRuntime): { key: string; t: number; reason?: string } | undefined {
  const records = rt.aggregator.store.records(ENGINE, { epoch: rt.runEpoch });
  const end = records.find(
    (r) =>
      (r.key === 'run.completed' || r.key === 'run.failed') &&
      (r.value as { runId?: string } | undefined)?.runId === RUN,
  );
  if (!end) return undefined;
  const reason = (end.value as { reason?: string }).reason;
  return { key: end.key, t: end.t, ...(reason === undefined ? {} : { reason }) };
}

/** The promises of run reconciliation (README, "Runs across outages"): checked after every step. */
function invariants(rt: RunRuntime): void {
  const run = runOf(rt);
  const link = linkOf(rt);
  const end = endPersisted(rt);
  const open = run.state === 'active' || run.state === 'unconfirmed';
  // Its start is the engine's.
  expect(run.startedAt).toBe(rt.startedAt);
  expect(run.epoch).toBe(rt.runEpoch);
  // Completed or failed only with an end record from the engine, and with the engine's times.
  if (run.state === 'completed' || run.state === 'failed') {
    expect(end?.key).toBe(`run.${run.state}`);
    expect(run.endedAt).toBe(end!.t);
    expect(run.reason).toBe(run.state === 'failed' ? (end!.reason ?? 'failed') : null);
  } else expect(run.endedAt).toBeNull();
  // An engine that is away does not run anything the aggregator can vouch for.
  if (link === 'unavailable' || link === 'offline') expect(run.state).not.toBe('active');
  // Once the engine is back and caught up, what its hello said decides (for a run started by then).
  const hello = rt.hellos.at(-1);
  if (link === 'available' && hello && run.startSeq <= hello.lastSeq && !end) {
    if (hello.epoch !== run.epoch) expect(open, 'a run of an engine that restarted is left open').toBe(false);
    else if (hello.runId !== RUN)
      expect(open, 'a run its caught-up engine does not run is left open').toBe(false);
    // (A run interrupted for good, the engine restarted or stopped running it, is not reopened.)
    else if (run.state !== 'interrupted' || run.reason === REASON_ENGINE_LOST)
      expect(run.state).toBe('active');
  }
  // Interrupted only for one of the three reasons, each true of what the engine had said by then.
  if (run.state === 'interrupted') {
    const told = rt.hellos.filter((h) => h.at <= run.since).at(-1);
    if (run.reason === REASON_ENGINE_RESTARTED) expect(told?.epoch).not.toBe(run.epoch);
    else if (run.reason === REASON_NOT_RUNNING) {
      expect(told?.epoch).toBe(run.epoch);
      expect(told?.runId).not.toBe(RUN);
    } else {
      expect(run.reason).toBe(REASON_ENGINE_LOST);
      const away = rt.outages.some(
        (o) => o.from + ABANDON_AFTER_MS <= run.since && (o.to ?? Infinity) >= run.since,
      );
      expect(away, `engine lost, yet not away for ${ABANDON_AFTER_MS} ms before ${run.since}`).toBe(true);
    }
  }
  // The engine's current run is the open one.
  expect(rt.aggregator.engine(ENGINE)?.currentRun?.id ?? null).toBe(open ? RUN : null);
}

const newHello = 'the engine tells what it runs in hello only, on a new link: losing the old one comes first';

export const runReconciliationHarness: RuntimeHarness<RunRuntime, RunReconciliationEvent> = {
  machine: runReconciliationMachine,
  start,
  state: (rt) => runOf(rt).state,
  cause,
  checkStep,
  invariants,
  visible: (rt) => {
    const { state, reason, endedAt, since, endSeq } = runOf(rt);
    return { state, reason, endedAt, since, endSeq, current: rt.aggregator.engine(ENGINE)?.currentRun?.id };
  },
  uncausable: {
    'active ⊘ ENGINE_RUNNING': newHello,
    'active ⊘ ENGINE_RESTARTED': newHello,
    'unconfirmed ⊘ LINK_LOST': 'the link is lost already',
    'interrupted ⊘ LINK_LOST': 'the link is lost already (after the abandon period)',
  },
  stop: async (rt) => {
    await rt.engine.close();
    await rt.aggregator.close();
  },
};
