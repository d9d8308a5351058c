import { expect } from 'vitest';
import { type OfflineWatchEvent, offlineWatchMachine } from '../../../machines/offlineWatch.ts';
import { Aggregator } from '../../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../../src/aggregator/store/sqliteStore.ts';
import { ResilientDispatcher } from '../../../src/engine/resilientDispatcher.ts';
import { SimulatedClock } from '../../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../../src/transport/memoryTransport.ts';
import { until } from '../../support/until.ts';
import type { RuntimeHarness } from '../support/modelSuite.ts';
import type { RuntimeRecorder } from '../support/runtimeRecorder.ts';

/**
 * The offline watch (machines/offlineWatch.ts) run by the real ResilientDispatcher (with `maxOfflineMs`)
 * and a real aggregator over the in-memory network, on a simulated clock. The link comes up and goes down
 * as in production (connects let through or refused, links broken); the limit passes as time does. The
 * state is what the dispatcher shows: online while its link is up; offline too long once
 * `offlineTooLong` was told in the current outage.
 */
export const MAX_OFFLINE_MS = 60_000;

interface Told {
  readonly event: 'offlineTooLong' | 'onlineAgain';
  readonly offlineMs: number;
  readonly at: number;
}

export interface WatchRuntime {
  readonly clock: SimulatedClock;
  readonly network: MemoryNetwork;
  readonly aggregator: Aggregator;
  readonly engine: ResilientDispatcher;
  readonly told: Told[];
  /** When the current outage began (the engine starts offline). */
  downSince: number;
  /** Told events before the last step. */
  before: number;
}

const isUp = (rt: WatchRuntime) => rt.engine.state === 'connected' || rt.engine.state === 'flushing';

function stateOf(rt: WatchRuntime): string {
  if (isUp(rt)) return 'online';
  const last = rt.told.at(-1);
  return last?.event === 'offlineTooLong' && last.at >= rt.downSince ? 'offlineTooLong' : 'offline';
}

async function start(recorder: RuntimeRecorder): Promise<WatchRuntime> {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  const aggregator = new Aggregator({ store: new SqliteStore(':memory:'), clock });
  network.listen(aggregator);
  network.refuseConnects();
  const engine = new ResilientDispatcher({
    engineId: 'watched',
    connector: network,
    clock,
    random: () => 0,
    retry: { initialMs: 500, maxMs: 500 },
    maxOfflineMs: MAX_OFFLINE_MS,
    inspect: recorder.inspect,
  });
  const rt: WatchRuntime = {
    clock,
    network,
    aggregator,
    engine,
    told: [],
    downSince: clock.now(),
    before: 0,
  };
  engine.on('offlineTooLong', ({ offlineMs }) =>
    rt.told.push({ event: 'offlineTooLong', offlineMs, at: clock.now() }),
  );
  engine.on('onlineAgain', ({ offlineMs }) =>
    rt.told.push({ event: 'onlineAgain', offlineMs, at: clock.now() }),
  );
  return rt;
}

async function cause(rt: WatchRuntime, event: OfflineWatchEvent): Promise<boolean> {
  rt.before = rt.told.length;
  switch (event.type) {
    case 'LINK_UP':
      rt.network.refuseConnects(false);
      await until('link up', () => isUp(rt), rt.clock);
      break;
    case 'LINK_DOWN':
      if (isUp(rt)) rt.downSince = rt.clock.now();
      rt.network.refuseConnects();
      rt.network.closeAll();
      await until('link down', () => !isUp(rt), rt.clock);
      break;
    case 'LIMIT_DUE': {
      // The limit passes from the start of the outage (or, passed already or with the link up, once more).
      const left = rt.downSince + MAX_OFFLINE_MS - rt.clock.now();
      await rt.clock.advance(!isUp(rt) && left > 0 ? left : MAX_OFFLINE_MS);
      break;
    }
  }
  return true;
}

function checkStep(rt: WatchRuntime, step: { expected: string; transitions: readonly string[] }): void {
  const news = rt.told.slice(rt.before);
  const left = step.transitions[0]?.split(':')[0];
  if (step.expected === 'offlineTooLong') {
    // Told once, when the limit passed, with how long the link had been down.
    expect(news).toEqual([
      { event: 'offlineTooLong', offlineMs: MAX_OFFLINE_MS, at: rt.downSince + MAX_OFFLINE_MS },
    ]);
  } else if (left === 'offlineTooLong' && step.expected === 'online') {
    expect(news).toEqual([
      { event: 'onlineAgain', offlineMs: rt.clock.now() - rt.downSince, at: rt.clock.now() },
    ]);
  } else expect(news).toEqual([]);
}

/** Told at most once per outage, only after the limit, and that the link is back only after that. */
function invariants(rt: WatchRuntime): void {
  rt.told.forEach((told, i) => {
    expect(told.event).toBe(i % 2 === 0 ? 'offlineTooLong' : 'onlineAgain');
    expect(told.offlineMs).toBeGreaterThanOrEqual(MAX_OFFLINE_MS);
  });
  if (isUp(rt)) expect(rt.told.at(-1)?.event ?? 'onlineAgain').toBe('onlineAgain');
}

export const offlineWatchHarness: RuntimeHarness<WatchRuntime, OfflineWatchEvent> = {
  machine: offlineWatchMachine,
  start,
  state: stateOf,
  cause,
  checkStep,
  invariants,
  visible: (rt) => ({ up: isUp(rt), told: rt.told.length }),
  uncausable: {},
  stop: async (rt) => {
    // Nothing more is told after close, however long it stays down.
    const told = rt.told.length;
    await rt.engine.close();
    await rt.clock.advance(2 * MAX_OFFLINE_MS);
    expect(rt.told.length).toBe(told);
    await rt.aggregator.close();
  },
};
