import { expect } from 'vitest';
import { type EngineSessionEvent, engineSessionMachine } from '../../../machines/engineSession.ts';
import { REASON_ENGINE_LOST } from '../../../machines/runReconciliation.ts';
import { Aggregator, type CommandOutcome } from '../../../src/aggregator/aggregator.ts';
import type { EngineSessionEvents } from '../../../src/aggregator/session/engineView.ts';
import { SqliteStore } from '../../../src/aggregator/store/sqliteStore.ts';
import { encodeRecordsFrame } from '../../../src/protocol/codec.ts';
import type { AggregatorMessage } from '../../../src/protocol/messages.ts';
import type { Item } from '../../../src/protocol/records.ts';
import { SimulatedClock, settle } from '../../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../../src/transport/memoryTransport.ts';
import type { EngineTransport } from '../../../src/transport/sides.ts';
import type { RuntimeHarness } from '../support/modelSuite.ts';
import type { RuntimeRecorder } from '../support/runtimeRecorder.ts';

/**
 * The aggregator's view of one engine (machines/engineSession.ts) run by the real Aggregator (session,
 * SQLite store, heartbeats, command gate) over the in-memory network, against an engine driven by hand.
 * Events are caused as in production: hello frames, records the store commits, a black-holed link going
 * silent, a goodbye. The engine was seen before (its first records are in the store when the aggregator
 * starts), so its session exists, offline, from the start.
 */
const ENGINE = 'model-e';
const EPOCH = 'epoch-1';
const HEARTBEAT_MS = 1000;
const HEARTBEAT_TIMEOUT_MS = 2500;
/** Records the store holds before the aggregator starts. */
const SEEDED = 20;
/** The run the engine is on. */
const RUN = 'run-0';
const SNAPSHOT = { current: { runId: RUN, phase: 'running', startedAt: 0 } };

const STATE_OF_LINK: Record<string, string> = {
  offline: 'offline',
  'catching-up': 'catchingUp',
  available: 'available',
  unavailable: 'unavailable',
};

/** One link as the engine sees it. */
interface EngineLink {
  readonly transport: EngineTransport;
  readonly received: AggregatorMessage[];
  pings: number;
  /** How the aggregator closed it, when it did. */
  closed: { code: number; reason: string } | undefined;
}

/** A command sent while the engine was available that the engine never answers. */
interface HeldCommand {
  outcome: CommandOutcome | undefined;
}

export interface SessionRuntime {
  readonly clock: SimulatedClock;
  readonly network: MemoryNetwork;
  readonly aggregator: Aggregator;
  readonly store: SqliteStore;
  readonly links: EngineLink[];
  readonly held: HeldCommand[];
  readonly progress: Array<EngineSessionEvents['progress'][0]>;
  readonly engineStates: Array<EngineSessionEvents['engineState'][0]>;
  /** Acknowledgements (and welcomes) the engine got for records the store did not hold yet. */
  ackedBeforeStored: number;
  /** The model's sequence numbers are the runtime's minus this (set by each hello). */
  base: number;
  /** The engine's last sequence number, as it said in its last hello or since. */
  lastSeq: number;
  /** Commands probed so far (each gets a new id). */
  probes: number;
  before: { progress: number; links: number; state: string; engineStates: number; at: number };
}

function seededStore(): SqliteStore {
  const store = new SqliteStore(':memory:');
  const items: Item[] = [];
  for (let seq = 1; seq <= SEEDED; seq++) items.push(['s', 'T', seq, seq]);
  store.touchEngine(ENGINE, EPOCH, 0);
  store.ingest(ENGINE, EPOCH, 1, items);
  // The run the engine runs throughout (it says so in every hello): active when the aggregator stopped.
  store.saveRun({
    id: RUN,
    engineId: ENGINE,
    epoch: EPOCH,
    state: 'active',
    startedAt: 0,
    endedAt: null,
    reason: null,
    method: null,
    phase: 'running',
    startSeq: 1,
    endSeq: null,
    since: 0,
  });
  return store;
}

async function start(recorder: RuntimeRecorder): Promise<SessionRuntime> {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  const store = seededStore();
  const aggregator = new Aggregator({
    store,
    clock,
    heartbeatMs: HEARTBEAT_MS,
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    commandTimeoutMs: 3_600_000,
    inspect: recorder.inspect,
  });
  network.listen(aggregator);
  const rt: SessionRuntime = {
    clock,
    network,
    aggregator,
    store,
    links: [],
    held: [],
    progress: [],
    engineStates: [],
    ackedBeforeStored: 0,
    base: 0,
    lastSeq: SEEDED,
    probes: 0,
    before: { progress: 0, links: 0, state: 'offline', engineStates: 0, at: 0 },
  };
  aggregator.on('progress', (p) => rt.progress.push(p));
  aggregator.on('engineState', (s) => rt.engineStates.push(s));
  await settle();
  return rt;
}

const stateOf = (rt: SessionRuntime) => STATE_OF_LINK[rt.aggregator.engine(ENGINE)!.link]!;
const persisted = (rt: SessionRuntime) => rt.store.highWaterMark(ENGINE, EPOCH);
const current = (rt: SessionRuntime) => {
  const link = rt.links.at(-1);
  return link?.transport.state === 'open' ? link : undefined;
};

async function connect(rt: SessionRuntime): Promise<EngineLink> {
  const transport = rt.network.connect({ engineId: ENGINE });
  const link: EngineLink = { transport, received: [], pings: 0, closed: undefined };
  transport.on('close', ({ code, reason }) => {
    link.closed = { code, reason };
  });
  transport.on('message', (message) => {
    link.received.push(message);
    if (
      (message.type === 'ack' && message.seq > persisted(rt)) ||
      (message.type === 'welcome' && message.ackSeq > persisted(rt))
    )
      rt.ackedBeforeStored++;
    if (message.type === 'ping') {
      link.pings++;
      transport.send({ type: 'pong', t: message.t });
    }
    if (message.type === 'command' && message.name === 'probe')
      transport.send({ type: 'commandResult', id: message.id, ok: true, result: 'done' });
  });
  rt.links.push(link);
  await settle();
  expect(transport.state).toBe('open');
  return link;
}

/** Records `from`..`to` (runtime sequence numbers) in one frame. */
function sendRecords(link: EngineLink, from: number, to: number): void {
  const items = [];
  for (let seq = from; seq <= to; seq++) items.push(`["s","T",${seq},${seq}]`);
  link.transport.sendText(encodeRecordsFrame(from, items.join(',')));
}

/** The engine's hello: its epoch, last sequence number, and the run it is on. */
function sayHello(rt: SessionRuntime, link: EngineLink): void {
  link.transport.send({
    type: 'hello',
    v: 1,
    engineId: ENGINE,
    epoch: EPOCH,
    lastSeq: rt.lastSeq,
    snapshot: SNAPSHOT,
  });
}

async function cause(rt: SessionRuntime, event: EngineSessionEvent): Promise<boolean> {
  const state = stateOf(rt);
  const linked = state === 'catchingUp' || state === 'available';
  const link = current(rt);
  rt.before = {
    progress: rt.progress.length,
    links: rt.links.length,
    state,
    engineStates: rt.engineStates.length,
    at: rt.clock.now(),
  };
  switch (event.type) {
    case 'HELLO': {
      if (linked) {
        // A second hello on the same link: told it is one too many, nothing else.
        sayHello(rt, link!);
        break;
      }
      const fresh = await connect(rt);
      rt.base = persisted(rt) - event.persistedSeq;
      rt.lastSeq = event.lastSeq + rt.base;
      sayHello(rt, fresh);
      break;
    }
    case 'PERSISTED': {
      if (!linked) return false;
      const upTo = event.seq + rt.base;
      const mark = persisted(rt);
      // Up to `seq`, or (the store is there already) that record again: a commit of a duplicate.
      if (upTo <= mark) sendRecords(link!, upTo, upTo);
      else sendRecords(link!, mark + 1, upTo);
      rt.lastSeq = Math.max(rt.lastSeq, upTo);
      break;
    }
    case 'LINK_LOST':
      // Half-open: nobody is told; the aggregator must notice the silence by itself.
      rt.network.blackhole();
      await rt.clock.advance(HEARTBEAT_TIMEOUT_MS);
      rt.network.restore();
      break;
    case 'GOODBYE':
      // Without a link: an engine that connects and leaves before saying hello.
      (link ?? (await connect(rt))).transport.send({ type: 'bye', reason: 'done' });
      break;
  }
  await settle();
  return true;
}

/** A command through the gate; an available engine answers it (`probe`) or never does (`hold`). */
function command(rt: SessionRuntime, name: 'probe' | 'hold') {
  return rt.aggregator.command(ENGINE, { id: `c-${++rt.probes}`, name });
}

async function checkStep(
  rt: SessionRuntime,
  step: { event: EngineSessionEvent; expected: string; transitions: readonly string[] },
): Promise<void> {
  const view = rt.aggregator.engine(ENGINE)!;
  const state = step.expected;
  const moved = step.transitions.length > 0;
  const link = current(rt);
  if (step.event.type === 'HELLO' && moved) {
    expect(link!.received[0]).toEqual({
      type: 'welcome',
      v: 1,
      ackSeq: persisted(rt),
      heartbeatMs: HEARTBEAT_MS,
    });
    expect(view.targetSeq).toBe(rt.lastSeq);
  }
  // Every change of state is told once, with when (during the step), and (going away) why.
  const changed = state !== rt.before.state;
  expect(rt.engineStates.length - rt.before.engineStates).toBe(changed ? 1 : 0);
  if (changed) {
    const told = rt.engineStates.at(-1)!;
    const why = { unavailable: 'heartbeat timeout', offline: 'engine said bye: done' }[state as 'offline'];
    expect(told).toEqual({
      engineId: ENGINE,
      link: view.link,
      since: view.since,
      ...(why === undefined ? {} : { reason: why }),
    });
    expect(view.since).toBeGreaterThanOrEqual(rt.before.at);
    expect(view.since).toBeLessThanOrEqual(rt.clock.now());
  }
  if (moved && step.event.type === 'GOODBYE')
    expect(rt.links.at(-1)!.closed).toEqual({ code: 1000, reason: 'bye' });
  // Progress is published on every change of state and every commit while catching up, and says where it is.
  const published = moved;
  expect(rt.progress.length > rt.before.progress, 'progress published').toBe(published);
  if (published)
    expect(rt.progress.at(-1)).toEqual({
      engineId: ENGINE,
      persistedSeq: view.persistedSeq,
      targetSeq: view.targetSeq,
    });
  // Commands left waiting when the engine went away are refused, with why.
  const reason = state === 'unavailable' ? 'heartbeat timeout' : 'engine went offline';
  for (const held of rt.held) {
    if (!moved || (state !== 'unavailable' && state !== 'offline')) continue;
    expect(held.outcome).toMatchObject({ status: 'outcome-unknown', reason });
  }
  if (moved && (state === 'unavailable' || state === 'offline')) rt.held.length = 0;
  // Pings while the engine is linked (catching up or available), none otherwise, no timer left behind.
  const pings = () => rt.links.reduce((n, l) => n + l.pings, 0);
  const before = pings();
  await rt.clock.advance(HEARTBEAT_MS * 1.5);
  await settle();
  if (state === 'catchingUp' || state === 'available') expect(pings(), 'pings').toBeGreaterThan(before);
  else {
    expect(pings(), 'pings').toBe(before);
    // None left while not linked, but the unconfirmed run's abandon timer.
    const abandon = (await rt.aggregator.run(RUN))!.state === 'unconfirmed' ? 1 : 0;
    expect(rt.clock.pendingTimers, 'timers left while not linked').toBe(abandon);
  }
  // A command left waiting for an available engine, to see what becomes of it.
  if (state === 'available') {
    const held: HeldCommand = { outcome: undefined };
    const answer = command(rt, 'hold');
    expect(answer).toBeInstanceOf(Promise);
    void (answer as Promise<CommandOutcome>).then((outcome) => {
      held.outcome = outcome;
    });
    rt.held.push(held);
  }
}

/** The promises of the aggregator's view of an engine: checked after every step. */
async function invariants(rt: SessionRuntime): Promise<void> {
  const state = stateOf(rt);
  const view = rt.aggregator.engine(ENGINE)!;
  // Commands are accepted only while the engine is available, and refused at once otherwise.
  const answer = command(rt, 'probe');
  if (state === 'available') await expect(answer).resolves.toMatchObject({ status: 'ok', result: 'done' });
  else
    expect(answer).toMatchObject({
      error: state === 'catchingUp' ? 'engine-catching-up' : 'engine-unavailable',
      engineId: ENGINE,
    });
  // Nothing is acknowledged before it is stored; what is stored is stored once, in order.
  expect(rt.ackedBeforeStored).toBe(0);
  const rows = rt.store.records(ENGINE, { epoch: EPOCH });
  expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: persisted(rt) }, (_, i) => i + 1));
  expect(view.persistedSeq).toBe(persisted(rt));
  // The end of the backlog told at the last hello, never below what is persisted.
  expect(view.targetSeq).toBeGreaterThanOrEqual(view.persistedSeq);
  // Available means caught up with what the engine held at hello; catching up means not yet.
  if (state === 'available') expect(view.persistedSeq).toBeGreaterThanOrEqual(view.targetSeq);
  if (state === 'catchingUp') expect(view.persistedSeq).toBeLessThan(view.targetSeq);
  // Offline and unavailable: no link is open, and the run the engine is on is not taken as running: it is
  // unconfirmed (or, unconfirmed too long, interrupted as lost). Linked: the engine says it runs it.
  // What the run ledger makes of a lost link is committed by the aggregator's pipeline, after the state.
  await rt.aggregator.groupCommit.flush();
  const run = (await rt.aggregator.run(RUN))!;
  if (state === 'offline' || state === 'unavailable') {
    expect(rt.network.openLinks).toBe(0);
    expect(run.state === 'unconfirmed' || run.reason === REASON_ENGINE_LOST, `run ${run.state}`).toBe(true);
  } else {
    expect(rt.network.openLinks).toBe(1);
    expect(run.state).toBe('active');
  }
}

const noLink = 'no link: nothing of the engine reaches the aggregator';

export const engineSessionHarness: RuntimeHarness<SessionRuntime, EngineSessionEvent> = {
  machine: engineSessionMachine,
  start,
  state: stateOf,
  cause,
  checkStep,
  invariants,
  visible: (rt) => {
    const view = rt.aggregator.engine(ENGINE)!;
    return {
      link: view.link,
      since: view.since,
      engineStates: rt.engineStates.length,
      progress: rt.progress.length,
      held: rt.held.map((h) => h.outcome),
      openLinks: rt.network.openLinks,
    };
  },
  uncausable: {
    'offline ⊘ PERSISTED': noLink,
    'unavailable ⊘ PERSISTED': noLink,
  },
  stop: (rt) => rt.aggregator.close(),
};
