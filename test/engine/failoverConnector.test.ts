import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { ResilientDispatcher, type RetryInfo } from '../../src/engine/resilientDispatcher.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { FailoverConnector, webSocketConnectorFor } from '../../src/transport/failoverConnector.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { seededRandom } from '../support/seededRandom.ts';
import { until } from '../support/until.ts';

/**
 * The rules of an engine with several aggregators (FailoverConnector): the order they are tried in, the
 * next one at once after a failed or busy attempt, the usual backoff between rounds (counted in rounds),
 * and after a lost link the next one after the first backoff. Then a dispatcher over two aggregators on
 * in-memory networks and a simulated clock.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function targets(...names: string[]) {
  return names.map((url) => ({ url, connector: new MemoryNetwork() }));
}

describe('FailoverConnector: the order and the waits', () => {
  it('tries its targets in an order shuffled by its random (the same for the same seed), each once', () => {
    const orders = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) {
      const a = new FailoverConnector(targets('a', 'b', 'c'), { random: seededRandom(seed) });
      const b = new FailoverConnector(targets('a', 'b', 'c'), { random: seededRandom(seed) });
      expect(a.urls).toEqual(b.urls);
      expect([...a.urls].sort()).toEqual(['a', 'b', 'c']);
      orders.add(a.urls.join());
    }
    // Engines spread over the nodes: not everyone starts with the same one.
    expect(new Set([...orders].map((order) => order[0])).size).toBe(3);
  });

  it('refuses an empty list and a URL given twice', () => {
    expect(() => new FailoverConnector([])).toThrow(/at least one aggregator/);
    expect(() => webSocketConnectorFor(['ws://a:8080', 'ws://b:8080', 'ws://a:8080/'])).toThrow(
      /aggregator ws:\/\/a:8080\/ is given twice/,
    );
    expect(() => webSocketConnectorFor(['ws://a:8080', 'http://b:8080'])).toThrow(/must start with ws:\/\//);
    expect(webSocketConnectorFor(['ws://a:8080'])).toBeInstanceOf(WebSocketConnector);
  });

  it('moves to the next target at once after a failed attempt, and backs off (counted in rounds) after each full round', () => {
    const c = new FailoverConnector(targets('a', 'b', 'c'), { random: seededRandom(3) });
    const [first, second, third] = c.urls;
    const seen = [c.target];
    const plans = [];
    for (let i = 0; i < 9; i++) {
      plans.push(c.nextAttempt(null));
      seen.push(c.target);
    }
    expect(seen).toEqual([first, second, third, first, second, third, first, second, third, first]);
    const wait = (round: number) => ({ hop: false, round, retryAfterMs: null });
    expect(plans).toEqual([
      { hop: true },
      { hop: true },
      wait(0),
      { hop: true },
      { hop: true },
      wait(1),
      { hop: true },
      { hop: true },
      wait(2),
    ]);
  });

  it('after a lost link, waits the first backoff and goes to the next target; the one it left comes last', () => {
    const c = new FailoverConnector(targets('a', 'b', 'c'), { random: seededRandom(5) });
    c.nextAttempt(null); // the first failed
    const home = c.target;
    c.linkUp();
    expect(c.nextAttempt(null)).toEqual({ hop: false, round: 0, retryAfterMs: null });
    const order = [c.target];
    expect(c.nextAttempt(null)).toEqual({ hop: true });
    order.push(c.target);
    expect(c.nextAttempt(null)).toEqual({ hop: true });
    order.push(c.target);
    expect(order[0]).not.toBe(home);
    expect(order[2]).toBe(home);
    // That round failed too: the backoff goes on from the second step, as with one aggregator.
    expect(c.nextAttempt(null)).toEqual({ hop: false, round: 1, retryAfterMs: null });
  });

  it('busy: the next target is tried at once; only when every target of a round asked to wait does the smallest wait hold', () => {
    const c = new FailoverConnector(targets('a', 'b', 'c'));
    expect(c.nextAttempt(30_000)).toEqual({ hop: true });
    expect(c.nextAttempt(null)).toEqual({ hop: true });
    expect(c.nextAttempt(8000)).toEqual({ hop: false, round: 0, retryAfterMs: null });
    expect(c.nextAttempt(9000)).toEqual({ hop: true });
    expect(c.nextAttempt(7000)).toEqual({ hop: true });
    expect(c.nextAttempt(8000)).toEqual({ hop: false, round: 1, retryAfterMs: 7000 });
    // A link lost with a wait asked for: with other nodes to go to, the wait is not kept.
    c.linkUp();
    expect(c.nextAttempt(60_000)).toEqual({ hop: false, round: 0, retryAfterMs: null });
  });

  it('with one target behaves as the plain backoff: the wait asked for is kept, rounds are attempts', () => {
    const c = new FailoverConnector(targets('a'));
    expect(c.nextAttempt(null)).toEqual({ hop: false, round: 0, retryAfterMs: null });
    expect(c.nextAttempt(5000)).toEqual({ hop: false, round: 1, retryAfterMs: 5000 });
    c.linkUp();
    expect(c.nextAttempt(4000)).toEqual({ hop: false, round: 0, retryAfterMs: 4000 });
    expect(c.nextAttempt(null)).toEqual({ hop: false, round: 1, retryAfterMs: null });
  });
});

/** Two aggregators, each on its own in-memory network and store, on one simulated clock. */
function twoNodes(options: { maxEngines?: number; busyRetryAfterMs?: number } = {}) {
  const clock = new SimulatedClock();
  const nodes = ['node-a', 'node-b'].map((url) => {
    const network = new MemoryNetwork({ clock });
    const aggregator = new Aggregator({ store: new SqliteStore(':memory:'), clock, ...options });
    network.listen(aggregator);
    cleanups.push(() => aggregator.close());
    return { url, network, aggregator };
  });
  const connector = new FailoverConnector(
    nodes.map(({ url, network }) => ({ url, connector: network })),
    { random: seededRandom(7) },
  );
  const byUrl = (url: string) => nodes.find((node) => node.url === url)!;
  return { clock, connector, first: byUrl(connector.urls[0]!), second: byUrl(connector.urls[1]!) };
}

function engine(clock: SimulatedClock, connector: FailoverConnector, engineId = 'e1') {
  const retries: RetryInfo[] = [];
  const dispatcher = new ResilientDispatcher({
    engineId,
    connector,
    clock,
    random: seededRandom(1),
    retry: { initialMs: 500, maxMs: 10_000 },
  });
  dispatcher.on('retry', (retry) => retries.push(retry));
  cleanups.push(() => dispatcher.close());
  return { dispatcher, retries };
}

describe('a dispatcher with two aggregators', () => {
  it('one refuses connects (dead): the other is tried at once, and gets every record', async () => {
    const { clock, connector, first, second } = twoNodes();
    first.network.refuseConnects();
    const start = clock.now();
    const { dispatcher, retries } = engine(clock, connector);
    for (let i = 0; i < 5; i++) dispatcher.send({ kind: 'sample', tag: 'T', value: i });
    await until('5 acknowledged', () => dispatcher.stats.acked === 5, clock, { stepMs: 50 });
    expect(clock.now() - start).toBeLessThan(100);
    expect(retries).toMatchObject([{ attempt: 1, delayMs: 0, aggregator: first.url, next: second.url }]);
    expect(dispatcher.stats.aggregator).toBe(second.url);
    expect(second.aggregator.engine('e1')?.persistedSeq).toBe(5);
  });

  it('loses its link: re-homes to the other after the first backoff, and sends it what was not acknowledged', async () => {
    const { clock, connector, first, second } = twoNodes();
    const { dispatcher, retries } = engine(clock, connector);
    dispatcher.send({ kind: 'sample', tag: 'T', value: 1 });
    await until('1 acknowledged', () => dispatcher.stats.acked === 1, clock, { stepMs: 50 });
    expect(dispatcher.stats.aggregator).toBe(first.url);
    // The node dies: its links break, and it takes no more.
    first.network.refuseConnects();
    first.network.closeAll('node killed');
    dispatcher.send({ kind: 'sample', tag: 'T', value: 2 });
    await until('2 acknowledged', () => dispatcher.stats.acked === 2, clock, { stepMs: 50 });
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({ attempt: 1, aggregator: first.url, next: second.url });
    expect(retries[0]!.delayMs).toBeGreaterThanOrEqual(500);
    expect(retries[0]!.delayMs).toBeLessThanOrEqual(1000);
    expect(dispatcher.stats.aggregator).toBe(second.url);
    expect(second.aggregator.engine('e1')?.persistedSeq).toBe(2);
  });

  it('told busy (engine limit) with a long Retry-After: goes to the other at once instead of waiting', async () => {
    const { clock, connector, first, second } = twoNodes({ maxEngines: 1, busyRetryAfterMs: 60_000 });
    // The first node is full: another engine holds its one place.
    const other = engine(clock, new FailoverConnector([{ url: first.url, connector: first.network }]), 'x');
    await until('the other engine is connected', () => other.dispatcher.state === 'connected', clock, {
      stepMs: 50,
    });
    const start = clock.now();
    const { dispatcher, retries } = engine(clock, connector);
    dispatcher.send({ kind: 'sample', tag: 'T', value: 1 });
    await until('1 acknowledged', () => dispatcher.stats.acked === 1, clock, { stepMs: 50 });
    expect(retries).toMatchObject([{ attempt: 1, delayMs: 0, reason: expect.stringMatching(/503/) }]);
    expect(second.aggregator.engine('e1')?.persistedSeq).toBe(1);
    expect(clock.now() - start).toBeLessThan(1000);
  });

  it('both down: one backoff per round, growing, and connects once one comes back', async () => {
    const { clock, connector, first, second } = twoNodes();
    first.network.refuseConnects();
    second.network.refuseConnects();
    const { dispatcher, retries } = engine(clock, connector);
    await until('six retries', () => retries.length >= 6, clock, { stepMs: 50 });
    // hop, wait (round 0: 500..1000 ms), hop, wait (round 1: 500..2000 ms), ...
    expect(retries.map((r) => r.delayMs === 0)).toEqual([true, false, true, false, true, false]);
    // The waits are the backoff of rounds 0, 1, 2: between 500 ms and 1, 2, 4 s.
    for (const [i, ceiling] of [
      [1, 1000],
      [3, 2000],
      [5, 4000],
    ] as const) {
      expect(retries[i]!.delayMs).toBeGreaterThanOrEqual(500);
      expect(retries[i]!.delayMs).toBeLessThanOrEqual(ceiling);
    }
    second.network.refuseConnects(false);
    await until('connected', () => dispatcher.state === 'connected', clock, { stepMs: 50 });
    expect(dispatcher.stats.aggregator).toBe(second.url);
  });
});
