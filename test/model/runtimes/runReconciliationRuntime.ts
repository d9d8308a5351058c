import { expect } from 'vitest';
import {
  type RunReconciliationEvent,
  runReconciliationMachine,
} from '../../../machines/runReconciliation.ts';
import { Aggregator, type RunView } from '../../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../../src/aggregator/store/sqliteStore.ts';
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
/** The reasons of an interrupted run, as the README's table words them. */
const REASON_ENGINE_RESTARTED = 'engine restarted during the run';
const REASON_NOT_RUNNING = 'engine no longer runs it and sent no end';
const REASON_ENGINE_LOST = 'engine lost';
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
  /** The epoch the run started in, and the engine's clock then (once it started). */
  runEpoch: string;
  startedAt: number;
  /** The run's end on the engine, once it ended there. */
  end: { outcome: 'completed' | 'failed'; t: number; reason?: string } | undefined;
  /** What the engine's hellos said, oldest first: its epoch, last sequence number, and the run it runs. */
  readonly hellos: Hello[];
  /** Outages as the aggregator saw them: from (unavailable) to (available again, or undefined). */
  readonly outages: Array<{ from: number; to: number | undefined }>;
  linkUp: boolean;
  /** The runs the aggregator announced (its `run` events), oldest first. */
  readonly announced: RunView[];
  /** The path starts its run during an outage, to be caught up without it (ENGINE_RUNNING, ENGINE_NOT_RUNNING). */
  readonly viaBacklog: boolean;
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

const stateOf = async (rt: RunRuntime) => (await rt.aggregator.run(RUN))?.state ?? 'starting';
const linkOf = (rt: RunRuntime) => rt.aggregator.engine(ENGINE)?.link ?? 'offline';
const runOf = async (rt: RunRuntime) => (await rt.aggregator.run(RUN))!;
const synced = (rt: RunRuntime) =>
  rt.engine.state === 'connected' && rt.engine.stats.backlog === 0 && linkOf(rt) === 'available';

/** An aggregator and a connected engine; no run yet (the first step of every path makes it). */
async function start(
  recorder: RuntimeRecorder,
  path: ModelPath<RunReconciliationEvent>,
): Promise<RunRuntime> {
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
    announced: [],
    linkUp: true,
    runEpoch: '',
    startedAt: 0,
    viaBacklog:
      path.steps[0]?.event.type === 'ENGINE_RUNNING' && path.steps[1]?.event.type === 'ENGINE_NOT_RUNNING',
  } as unknown as RunRuntime;
  aggregator.on('run', (run) => rt.announced.push(run));
  aggregator.on('engineState', ({ link, since }) => {
    const open = rt.outages.at(-1);
    if ((link === 'unavailable' || link === 'offline') && (!open || open.to !== undefined))
      rt.outages.push({ from: since, to: undefined });
    if (link === 'available' && open && open.to === undefined) open.to = since;
  });
  spawn(rt);
  await until('connected', () => synced(rt), clock, { maxSteps: SETTLE_STEPS });
  return rt;
}

/** The run starts on the engine: its epoch and start time are the engine's. */
function startRun(rt: RunRuntime): void {
  rt.runs.started(RUN, 'model-method');
  rt.runEpoch = rt.engine.stats.epoch;
  rt.startedAt = rt.runs.snapshot().current!.startedAt;
}

/**
 * The run starts during an outage and its start record is replayed when the link comes back; the step
 * ends while the engine is still catching up. Only such a run can take ENGINE_NOT_RUNNING from `active`:
 * once caught up, its engine holds no end for it and does not run it (its snapshot says so).
 */
async function startViaBacklog(rt: RunRuntime): Promise<void> {
  await loseLink(rt);
  startRun(rt);
  for (let i = 0; i < 2000; i++) rt.engine.send({ kind: 'sample', tag: 'T', value: i });
  rt.claimed = { current: null, last: null };
  rt.network.delayMs = 5;
  rt.network.refuseConnects(false);
  rt.linkUp = true;
  await until(
    'run replayed, catch-up under way',
    async () => (await rt.aggregator.run(RUN))?.state === 'active',
    rt.clock,
    {
      stepMs: 1,
    },
  );
  expect(linkOf(rt)).toBe('catching-up');
}

/**
 * The run's start record reaches the aggregator and the link breaks before the record is committed (an
 * engine killed right after sending it): the group commit stores frames in the turn after they are read,
 * so the close is handled first. The run starts unconfirmed, never active.
 */
async function startAfterLinkLost(rt: RunRuntime): Promise<void> {
  startRun(rt);
  await until('start record read, not yet committed', () => rt.aggregator.groupCommit.size > 0, undefined, {
    turns: 1,
  });
  rt.network.refuseConnects();
  rt.network.closeAll();
  rt.linkUp = false;
  await until('run persisted', async () => (await rt.aggregator.run(RUN)) !== undefined, rt.clock, {
    maxSteps: SETTLE_STEPS,
  });
  expect(linkOf(rt)).toBe('unavailable');
}

/** The first record of the run to arrive is its end (an engine whose start record was lost). */
async function endWithoutStart(
  rt: RunRuntime,
  outcome: 'completed' | 'failed',
  reason?: string,
): Promise<void> {
  const t = rt.clock.now();
  rt.runEpoch = rt.engine.stats.epoch;
  rt.startedAt = t - 1000;
  rt.end = { outcome, t, ...(reason === undefined ? {} : { reason }) };
  const data = { runId: RUN, startedAt: rt.startedAt, ...(reason === undefined ? {} : { reason }) };
  rt.engine.send({ kind: 'event', name: `run.${outcome}`, data });
  await until('end persisted', () => synced(rt), rt.clock, { maxSteps: SETTLE_STEPS });
}

async function loseLink(rt: RunRuntime): Promise<void> {
  rt.network.refuseConnects();
  rt.network.closeAll();
  rt.linkUp = false;
  await until('aggregator loses the engine', () => linkOf(rt) === 'unavailable', rt.clock, {
    maxSteps: SETTLE_STEPS,
  });
  // What the run ledger makes of it is committed by the aggregator's pipeline, after the link state.
  await rt.aggregator.groupCommit.flush();
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
  const state = await stateOf(rt);
  if (state === 'starting') {
    if (event.type === 'ENGINE_RUNNING' && rt.viaBacklog) await startViaBacklog(rt);
    else if (event.type === 'ENGINE_RUNNING') {
      startRun(rt);
      await until('run persisted', async () => (await rt.aggregator.run(RUN)) !== undefined, rt.clock, {
        maxSteps: SETTLE_STEPS,
      });
    } else if (event.type === 'LINK_LOST') await startAfterLinkLost(rt);
    else if (event.type === 'RUN_COMPLETED') await endWithoutStart(rt, 'completed');
    else if (event.type === 'RUN_FAILED') await endWithoutStart(rt, 'failed', event.reason);
    else return causeWithoutRun(rt, event);
    return true;
  }
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
      if (state === 'active') {
        // No sequence of link events brings a new epoch to an active run (every way a link ends reaches
        // its runs first). The ledger is told of one as a session would tell it, to check that an active
        // run still does not survive a restart.
        rt.hellos.push({ at: rt.clock.now(), epoch: 'another-epoch', lastSeq: 0, runId: null });
        await rt.aggregator.groupCommit.run(() =>
          rt.aggregator.runs.hello(ENGINE, 'another-epoch', 0, { current: null, last: null }),
        );
        break;
      }
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

/** Before any run exists: the engine restarts, comes back without one, or time passes. Nothing to change. */
async function causeWithoutRun(rt: RunRuntime, event: RunReconciliationEvent): Promise<boolean> {
  if (event.type === 'ABANDON_DUE') await rt.clock.advance(ABANDON_AFTER_MS);
  else if (event.type === 'ENGINE_NOT_RUNNING') {
    rt.claimed = { current: null, last: null };
    await comeBack(rt);
  } else if (event.type === 'ENGINE_RESTARTED') {
    await loseLink(rt);
    await rt.engine.close();
    spawn(rt);
    await comeBack(rt);
  } else return false;
  return true;
}

/** What the README's table says the run shows after each kind of event. */
async function checkStep(
  rt: RunRuntime,
  step: { event: RunReconciliationEvent; expected: string; transitions: readonly string[] },
): Promise<void> {
  if (step.transitions.length === 0) return;
  const run = await runOf(rt);
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

async function endPersisted(
  rt: RunRuntime,
): Promise<{ key: string; t: number; reason?: string } | undefined> {
  const records = await rt.aggregator.store.records(ENGINE, { epoch: rt.runEpoch });
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
async function invariants(rt: RunRuntime): Promise<void> {
  if ((await stateOf(rt)) === 'starting') {
    // No run yet: none shown, and the engine runs none the aggregator knows of.
    expect(await rt.aggregator.listRuns()).toEqual([]);
    expect(rt.aggregator.engine(ENGINE)?.currentRun ?? null).toBeNull();
    return;
  }
  const run = await runOf(rt);
  const link = linkOf(rt);
  const end = await endPersisted(rt);
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
  // What was announced last is what is stored: every field there, null where there is nothing to say.
  const announced = rt.announced.at(-1)!;
  expect({ ...announced, records: 0 }).toEqual({ ...(await rt.aggregator.run(RUN))!, records: 0 });
  // The engine's current run is the open one.
  expect(rt.aggregator.engine(ENGINE)?.currentRun?.id ?? null).toBe(open ? RUN : null);
}

const newHello = 'the engine tells what it runs in hello only, on a new link: losing the old one comes first';

export const runReconciliationHarness: RuntimeHarness<RunRuntime, RunReconciliationEvent> = {
  machine: runReconciliationMachine,
  start,
  state: stateOf,
  cause,
  checkStep,
  invariants,
  visible: async (rt) => {
    if ((await stateOf(rt)) === 'starting') return { runs: (await rt.aggregator.listRuns()).length };
    const { state, reason, endedAt, since, endSeq } = await runOf(rt);
    return { state, reason, endedAt, since, endSeq, current: rt.aggregator.engine(ENGINE)?.currentRun?.id };
  },
  uncausable: {
    'active ⊘ ENGINE_RUNNING': newHello,
    'unconfirmed ⊘ LINK_LOST': 'the link is lost already',
    'interrupted ⊘ LINK_LOST': 'the link is lost already (after the abandon period)',
  },
  stop: async (rt) => {
    await rt.engine.close();
    await rt.aggregator.close();
  },
};
