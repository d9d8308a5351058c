import { describe, expect, it } from 'vitest';
import { type OfflineWatchEvent, offlineWatchMachine } from '../../machines/offlineWatch.ts';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { until } from '../support/until.ts';
import { coverageOf, formatCoverage, transitionCoveringPaths } from './support/index.ts';

/**
 * Model-based test of the offline watch: paths generated from machines/offlineWatch.ts that together take
 * every transition, each driven through the real ResilientDispatcher (with `maxOfflineMs`) and a real
 * aggregator over the in-memory network, on a simulated clock. The link comes up and goes down as in
 * production (connects let through or refused, links broken); the limit passes as time does. After every
 * step the state the dispatcher's events imply is compared with the model's: online while the link is
 * up; offline too long once `offlineTooLong` was told in the current outage.
 */
const MAX_OFFLINE_MS = 60_000;
const paths = transitionCoveringPaths(offlineWatchMachine, []);

async function start() {
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
  });
  const told: Array<{ event: 'offlineTooLong' | 'onlineAgain'; offlineMs: number; at: number }> = [];
  engine.on('offlineTooLong', ({ offlineMs }) =>
    told.push({ event: 'offlineTooLong', offlineMs, at: clock.now() }),
  );
  engine.on('onlineAgain', ({ offlineMs }) =>
    told.push({ event: 'onlineAgain', offlineMs, at: clock.now() }),
  );
  let downSince = clock.now();
  const up = () => engine.state === 'connected' || engine.state === 'flushing';
  const rt = {
    clock,
    network,
    aggregator,
    engine,
    told,
    downSince: () => downSince,
    markDown: () => {
      downSince = clock.now();
    },
    /** The state the dispatcher's behaviour shows. */
    state(): string {
      if (up()) return 'online';
      const last = told.at(-1);
      return last?.event === 'offlineTooLong' && last.at >= downSince ? 'offlineTooLong' : 'offline';
    },
    up,
  };
  return rt;
}

type Runtime = Awaited<ReturnType<typeof start>>;

async function drive(rt: Runtime, event: OfflineWatchEvent): Promise<void> {
  switch (event.type) {
    case 'LINK_UP':
      rt.network.refuseConnects(false);
      await until('link up', rt.up, rt.clock);
      break;
    case 'LINK_DOWN':
      rt.network.refuseConnects();
      rt.network.closeAll();
      rt.markDown();
      await until('link down', () => !rt.up(), rt.clock);
      break;
    case 'LIMIT_DUE':
      await rt.clock.advance(rt.downSince() + MAX_OFFLINE_MS - rt.clock.now());
      break;
  }
}

describe('offlineWatch model', () => {
  it('the generated paths take every transition of the machine', () => {
    const report = coverageOf(offlineWatchMachine, paths);
    expect(report.uncovered, formatCoverage(report)).toEqual([]);
    expect(report.ratio).toBe(1);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const rt = await start();
      expect(rt.state()).toBe(path.initial);
      let previous = path.initial;
      for (const step of path.steps) {
        const before = rt.told.length;
        await drive(rt, step.event);
        expect(rt.state(), `after ${step.event.type}`).toBe(step.expected);
        const news = rt.told.slice(before);
        if (step.expected === 'offlineTooLong') {
          // Told once, when the limit passed, with how long the link had been down.
          expect(news).toEqual([
            { event: 'offlineTooLong', offlineMs: MAX_OFFLINE_MS, at: expect.any(Number) },
          ]);
        } else if (previous === 'offlineTooLong' && step.expected === 'online') {
          expect(news).toEqual([{ event: 'onlineAgain', offlineMs: expect.any(Number), at: rt.clock.now() }]);
          expect(news[0]!.offlineMs).toBeGreaterThanOrEqual(MAX_OFFLINE_MS);
        } else expect(news).toEqual([]);
        previous = step.expected;
      }
      // Nothing more is told after close, however long it stays down.
      const told = rt.told.length;
      await rt.engine.close();
      await rt.clock.advance(2 * MAX_OFFLINE_MS);
      expect(rt.told.length).toBe(told);
      await rt.aggregator.close();
    });
  }

  it('is told once per outage, however long it lasts, and not at all with no limit', async () => {
    const rt = await start();
    await rt.clock.advance(10 * MAX_OFFLINE_MS);
    expect(rt.told.map((t) => t.event)).toEqual(['offlineTooLong']);
    await drive(rt, { type: 'LINK_UP' });
    await drive(rt, { type: 'LINK_DOWN' });
    await rt.clock.advance(MAX_OFFLINE_MS - 1000);
    await drive(rt, { type: 'LINK_UP' });
    expect(rt.told.map((t) => t.event)).toEqual(['offlineTooLong', 'onlineAgain']);
    await rt.engine.close();

    const unlimited = new ResilientDispatcher({ engineId: 'free', connector: rt.network, clock: rt.clock });
    unlimited.on('offlineTooLong', () => rt.told.push({ event: 'offlineTooLong', offlineMs: 0, at: 0 }));
    rt.network.refuseConnects();
    await rt.clock.advance(10 * MAX_OFFLINE_MS);
    expect(rt.told).toHaveLength(2);
    await unlimited.close();
    await rt.aggregator.close();
  });
});
