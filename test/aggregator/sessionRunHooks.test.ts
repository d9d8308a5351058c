import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineSession } from '../../src/aggregator/session/engineSession.ts';
import type { SessionRunHooks } from '../../src/aggregator/session/engineView.ts';
import { AsyncSqliteStore } from '../../src/aggregator/store/asyncSqliteStore.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { HandEngine, samples } from './support.ts';

/**
 * What an engine's session tells the run ledger, and when: the engineSession machine names it
 * (`reconcileRuns` on entering `available`, `unconfirmRuns` on leaving `catchingUp` or `available` for a
 * lost link or a goodbye), and the session carries it out once the transition is complete, before the
 * engine's new state is announced.
 */
describe('an engine session tells the run ledger', () => {
  let clock: SimulatedClock;
  let network: MemoryNetwork;
  let store: SqliteStore;
  let session: EngineSession;
  let told: string[];

  beforeEach(() => {
    clock = new SimulatedClock();
    network = new MemoryNetwork({ clock });
    store = new SqliteStore(':memory:');
    told = [];
    const runs: SessionRunHooks = {
      hello: async (_engineId, epoch, lastSeq) => {
        told.push(`hello ${epoch} ${lastSeq}`);
      },
      recordsPersisted: async (_engineId, _epoch, from, items) => {
        told.push(`persisted ${from}+${items.length}`);
      },
      linkLost: () => told.push(`linkLost (${session.link})`),
      caughtUp: () => told.push(`caughtUp (${session.link})`),
    };
    session = new EngineSession({
      engineId: 'eng-1',
      store: new AsyncSqliteStore(store),
      clock,
      heartbeatMs: 1000,
      heartbeatTimeoutMs: 2500,
      logger: pino({ level: 'silent' }),
      events: { emit: (name, change) => told.push(`${name} ${'link' in change ? change.link : ''}`.trim()) },
      runs,
    });
    network.listen({ authorize: () => ({ ok: true }), accept: (transport) => session.attach(transport) });
  });
  afterEach(() => {
    session.stop();
    store.close();
  });

  async function connect(): Promise<HandEngine> {
    const engine = new HandEngine(network.connect({ engineId: 'eng-1' }));
    await engine.opening();
    return engine;
  }

  const ofRuns = () => told.filter((line) => /^(caughtUp|linkLost)/.test(line));

  it('caught up once the backlog is stored, then the link lost: each once, before the state is announced', async () => {
    const engine = await connect();
    engine.hello('eng-1', 'ep1', 6);
    await engine.nth('welcome', 1);
    expect(ofRuns()).toEqual([]);
    engine.records(1, samples(3));
    await engine.nth('ack', 1);
    expect(ofRuns()).toEqual([]);
    engine.records(4, samples(3, 3));
    await engine.nth('ack', 2);
    // Told once the session is available, and before listeners hear that it is.
    expect(ofRuns()).toEqual(['caughtUp (available)']);
    expect(told.slice(told.indexOf('caughtUp (available)'))).toEqual([
      'caughtUp (available)',
      'engineState available',
      'progress',
    ]);
    // More records while available: nothing more for the runs.
    engine.records(7, samples(2, 6));
    await engine.nth('ack', 3);
    expect(ofRuns()).toEqual(['caughtUp (available)']);

    engine.transport.close(1006, 'gone');
    await engine.closed();
    await clock.advance(10);
    expect(ofRuns()).toEqual(['caughtUp (available)', 'linkLost (unavailable)']);
    expect(told.slice(told.indexOf('linkLost (unavailable)'))).toEqual([
      'linkLost (unavailable)',
      'engineState unavailable',
      'progress',
    ]);
  });

  it('a hello with nothing to catch up is caught up at once; a goodbye loses the link', async () => {
    const engine = await connect();
    engine.hello('eng-1', 'ep1', 0);
    await engine.nth('welcome', 1);
    expect(ofRuns()).toEqual(['caughtUp (available)']);
    engine.send({ type: 'bye', reason: 'stopping' });
    await engine.closed();
    expect(ofRuns()).toEqual(['caughtUp (available)', 'linkLost (offline)']);
  });

  it('a link lost while catching up is told, and nothing is caught up', async () => {
    const engine = await connect();
    engine.hello('eng-1', 'ep1', 10);
    await engine.nth('welcome', 1);
    engine.records(1, samples(2));
    await engine.nth('ack', 1);
    engine.transport.close(1006, 'gone');
    await engine.closed();
    await clock.advance(10);
    expect(ofRuns()).toEqual(['linkLost (unavailable)']);
  });

  it('a link lost before any hello tells the runs nothing', async () => {
    const engine = await connect();
    engine.transport.close(1006, 'gone');
    await engine.closed();
    await clock.advance(10);
    expect(ofRuns()).toEqual([]);
  });
});
