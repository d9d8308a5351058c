import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Aggregator, type AggregatorEvents } from '../../src/aggregator/aggregator.ts';
import { AGGREGATOR_DEFAULTS } from '../../src/aggregator/aggregatorDefaults.ts';
import { MAX_FRAMES_IN_FLIGHT, MAX_WAITING_MESSAGES } from '../../src/aggregator/session/linkConnection.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { CloseCode, ErrorCode } from '../../src/protocol/errors.ts';
import { SimulatedClock, settle } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { HandEngine, samples } from './support.ts';

type StateChange = AggregatorEvents['engineState'][0];

describe('engine sessions over the in-memory network', () => {
  let clock: SimulatedClock;
  let network: MemoryNetwork;
  let store: SqliteStore;
  let aggregator: Aggregator;
  let states: StateChange[];
  let dir: string | undefined;

  function startAggregator(s: SqliteStore): Aggregator {
    const a = new Aggregator({ store: s, clock });
    a.on('engineState', (change) => states.push(change));
    network.listen(a);
    return a;
  }

  beforeEach(() => {
    clock = new SimulatedClock();
    network = new MemoryNetwork({ clock });
    states = [];
    store = new SqliteStore(':memory:');
    aggregator = startAggregator(store);
  });
  afterEach(async () => {
    await aggregator.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function connect(engineId = 'eng-1', options: { autoPong?: boolean } = {}): Promise<HandEngine> {
    const engine = new HandEngine(network.connect({ engineId }), options);
    await engine.opening();
    return engine;
  }

  const links = (engineId = 'eng-1') => states.filter((s) => s.engineId === engineId).map((s) => s.link);
  const view = (engineId = 'eng-1') => aggregator.engine(engineId);

  it('answers hello with a welcome carrying the persisted mark and the heartbeat period', async () => {
    store.ingest('eng-1', 'ep1', 1, samples(7));
    const engine = await connect();
    engine.hello('eng-1', 'ep1', 7);
    expect(await engine.nth('welcome', 1)).toEqual({ type: 'welcome', v: 1, ackSeq: 7, heartbeatMs: 1000 });
    expect(view()?.link).toBe('available');
    expect(links()).toEqual(['offline', 'available']);
  });

  it('catches up: offline, catching-up, available, acknowledging each frame once committed', async () => {
    const progress: AggregatorEvents['progress'][0][] = [];
    const persisted: AggregatorEvents['persisted'][0][] = [];
    aggregator.on('progress', (p) => progress.push(p));
    aggregator.on('persisted', (p) => persisted.push(p));
    const engine = await connect();
    engine.hello('eng-1', 'ep1', 10);
    expect((await engine.nth('welcome', 1)).ackSeq).toBe(0);
    expect(view()).toMatchObject({ link: 'catching-up', persistedSeq: 0, targetSeq: 10 });

    engine.records(1, samples(4));
    expect(await engine.nth('ack', 1)).toEqual({ type: 'ack', seq: 4 });
    expect(store.highWaterMark('eng-1', 'ep1')).toBe(4);
    expect(view()).toMatchObject({ link: 'catching-up', persistedSeq: 4, targetSeq: 10, persistedCount: 4 });
    expect(progress.at(-1)).toEqual({ engineId: 'eng-1', persistedSeq: 4, targetSeq: 10 });

    engine.records(5, samples(6, 4));
    expect((await engine.nth('ack', 2)).seq).toBe(10);
    expect(view()).toMatchObject({ link: 'available', persistedSeq: 10, targetSeq: 10, persistedCount: 10 });
    expect(links()).toEqual(['offline', 'catching-up', 'available']);
    expect(persisted).toEqual([
      { engineId: 'eng-1', seq: 4, inserted: 4 },
      { engineId: 'eng-1', seq: 10, inserted: 6 },
    ]);
    expect(store.records('eng-1').map((r) => r.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('commits a window of one link’s frames together, answered in order; a frame that does not follow on is refused and nothing after it stored', async () => {
    const groups: number[] = [];
    aggregator.on('commit', (group) => groups.push(group.units));
    const engine = await connect();
    engine.hello('eng-1', 'ep1', 40);
    await engine.nth('welcome', 1);
    // Eight frames in one turn: the first is in flight when the others arrive; they follow it into the
    // store instead of waiting for its answer, a commit each.
    for (let frame = 0; frame < 8; frame++) engine.records(frame * 5 + 1, samples(5, frame * 5));
    await engine.ackAtLeast(40);
    expect(engine.all('ack').map((a) => a.seq)).toEqual([5, 10, 15, 20, 25, 30, 35, 40]);
    // The first group is the hello's; the eight frames took fewer commits than frames.
    const frameGroups = groups.slice(1);
    expect(frameGroups.reduce((sum, units) => sum + units, 0)).toBe(8);
    expect(frameGroups.length).toBeLessThan(8);

    // A frame that skips a number, sent with good ones around it in one turn.
    engine.records(41, samples(2, 40));
    engine.records(44, samples(2, 43));
    engine.records(46, samples(2, 45));
    const error = await engine.error(ErrorCode.SequenceGap);
    expect(error.message).toMatch(/42/);
    expect(engine.all('ack').at(-1)?.seq).toBe(42);
    expect(store.highWaterMark('eng-1', 'ep1')).toBe(42);
    expect(store.records('eng-1').map((r) => r.seq)).toEqual(Array.from({ length: 42 }, (_, i) => i + 1));
  });

  it('acknowledges repeated frames and ignores their duplicates', async () => {
    const engine = await connect();
    engine.hello('eng-1', 'ep1', 0);
    engine.records(1, samples(5));
    expect((await engine.nth('ack', 1)).seq).toBe(5);
    engine.records(1, samples(5));
    expect((await engine.nth('ack', 2)).seq).toBe(5);
    engine.records(3, samples(6, 2));
    expect((await engine.nth('ack', 3)).seq).toBe(8);

    expect(store.records('eng-1').map((r) => [r.seq, r.value])).toEqual(
      Array.from({ length: 8 }, (_, i) => [i + 1, i]),
    );
    expect(view()).toMatchObject({ persistedSeq: 8, persistedCount: 8, duplicatesIgnored: 8 });
  });

  it('pings every heartbeatMs and keeps an engine that answers available', async () => {
    const engine = await connect('eng-1', { autoPong: true });
    engine.hello('eng-1', 'ep1', 0);
    await engine.nth('welcome', 1);
    await clock.advance(10_000);
    expect(engine.all('ping')).toHaveLength(10);
    expect(view()?.link).toBe('available');
    expect(links()).toEqual(['offline', 'available']);
  });

  it('does not ping an engine it acknowledges: acks are heard as pings would be; pings come back when records stop', async () => {
    const engine = await connect('eng-1', { autoPong: true });
    engine.hello('eng-1', 'ep1', 0);
    await engine.nth('welcome', 1);
    // Ten records a second for five seconds: an ack every 100 ms, never a ping.
    for (let seq = 1; seq <= 50; seq++) {
      engine.records(seq, samples(1, seq - 1));
      await engine.ackAtLeast(seq);
      await clock.advance(100);
    }
    expect(engine.all('ping')).toHaveLength(0);
    expect(engine.all('ack')).toHaveLength(50);
    // Quiet: the next ping comes within 1.5 periods of the last ack, then one a period.
    await clock.advance(1500);
    expect(engine.all('ping').length).toBeGreaterThanOrEqual(1);
    await clock.advance(3000);
    expect(engine.all('ping').length).toBeGreaterThanOrEqual(4);
    expect(view()?.link).toBe('available');
  });

  it('tells a link that floods frames behind one in flight busy (1013); what it was told was stored stays stored', async () => {
    const engine = await connect();
    engine.hello('eng-1', 'ep1', 1000);
    await engine.nth('welcome', 1);
    // All sent in one turn: the first MAX_FRAMES_IN_FLIGHT go to the store, the rest wait behind them,
    // past the limit.
    const sent = MAX_FRAMES_IN_FLIGHT + MAX_WAITING_MESSAGES + 1;
    for (let seq = 1; seq <= sent; seq++) engine.records(seq, samples(1, seq - 1));
    expect((await engine.closed()).code).toBe(CloseCode.TryAgainLater);
    const error = await engine.error(ErrorCode.Busy);
    expect(error.message).toMatch(/frames are waiting for earlier ones to be stored/);
    const acked = Math.max(0, ...engine.all('ack').map((a) => a.seq));
    // Nothing acknowledged is missing, nothing beyond the frames in flight was stored.
    expect(store.highWaterMark('eng-1', 'ep1')).toBeGreaterThanOrEqual(acked);
    expect(store.highWaterMark('eng-1', 'ep1')).toBeLessThanOrEqual(MAX_FRAMES_IN_FLIGHT);
  });

  it('shows a black-holed (half-open) engine as unavailable within 3 s, and takes it back on reconnect', async () => {
    const engine = await connect('eng-1', { autoPong: true });
    engine.hello('eng-1', 'ep1', 3);
    engine.records(1, samples(3));
    await engine.nth('ack', 1);
    await clock.advance(5_500);
    expect(view()?.link).toBe('available');

    network.blackhole();
    const cutAt = clock.now();
    for (let step = 0; step < 50 && view()?.link !== 'unavailable'; step++) await clock.advance(100);
    const lost = states.at(-1)!;
    expect(lost).toMatchObject({ engineId: 'eng-1', link: 'unavailable', reason: 'heartbeat timeout' });
    expect(lost.since - cutAt).toBeLessThanOrEqual(3000);
    // The last pong came back at most one heartbeat before the cut: not declared lost on the first miss.
    expect(lost.since - cutAt).toBeGreaterThan(1000);
    expect(view()).toMatchObject({ link: 'unavailable', since: lost.since });

    network.restore();
    const again = await connect('eng-1', { autoPong: true });
    again.hello('eng-1', 'ep1', 5);
    expect((await again.nth('welcome', 1)).ackSeq).toBe(3);
    expect(view()?.link).toBe('catching-up');
    again.records(4, samples(2, 3));
    expect((await again.nth('ack', 1)).seq).toBe(5);
    expect(links()).toEqual([
      'offline',
      'catching-up',
      'available',
      'unavailable',
      'catching-up',
      'available',
    ]);
    expect(store.records('eng-1').map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('goes offline on bye and closes the link cleanly', async () => {
    const engine = await connect();
    engine.hello('eng-1', 'ep1', 0);
    await engine.nth('welcome', 1);
    engine.send({ type: 'bye', reason: 'shutting down' });
    expect((await engine.closed()).code).toBe(CloseCode.Normal);
    expect(states.at(-1)).toMatchObject({ link: 'offline', reason: 'engine said bye: shutting down' });
    expect(links()).toEqual(['offline', 'available', 'offline']);
  });

  it('shows an engine whose link breaks without bye as unavailable at once', async () => {
    const engine = await connect();
    engine.hello('eng-1', 'ep1', 0);
    await engine.nth('welcome', 1);
    network.closeAll('cable pulled');
    await settle();
    expect(states.at(-1)).toMatchObject({ link: 'unavailable', reason: 'link closed (1006 cable pulled)' });
  });

  it('lets a new connection for the same engine replace the current one', async () => {
    const first = await connect();
    first.hello('eng-1', 'ep1', 3);
    first.records(1, samples(3));
    await first.nth('ack', 1);

    const second = await connect();
    expect((await first.error(ErrorCode.Replaced)).message).toMatch(/another connection for engine eng-1/);
    expect((await first.closed()).code).toBe(CloseCode.Replaced);
    expect(states.at(-1)).toMatchObject({ link: 'unavailable', reason: 'replaced by a new connection' });

    second.hello('eng-1', 'ep1', 5);
    expect((await second.nth('welcome', 1)).ackSeq).toBe(3);
    second.records(4, samples(2, 3));
    expect((await second.nth('ack', 1)).seq).toBe(5);
    expect(first.records(6, samples(1, 5))).toBe(false);
    expect(links()).toEqual([
      'offline',
      'catching-up',
      'available',
      'unavailable',
      'catching-up',
      'available',
    ]);
    expect(store.records('eng-1').map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('commits the frames of every engine read in one turn together, and acknowledges them only after', async () => {
    const engines = await Promise.all(['g-1', 'g-2', 'g-3'].map((id) => connect(id)));
    for (const [i, engine] of engines.entries()) engine.hello(`g-${i + 1}`, 'ep1', 2);
    await Promise.all(engines.map((engine) => engine.nth('welcome', 1)));
    const before = { groups: aggregator.groupCommit.groups, units: aggregator.groupCommit.units };
    for (const engine of engines) engine.records(1, samples(2));
    await Promise.all(engines.map((engine) => engine.nth('ack', 1)));
    expect(aggregator.groupCommit.groups - before.groups).toBe(1);
    expect(aggregator.groupCommit.units - before.units).toBe(3);
    for (const id of ['g-1', 'g-2', 'g-3']) expect(store.highWaterMark(id, 'ep1')).toBe(2);
  });

  it('answers a flood in frame order: acks, then the error of a bad frame, then the goodbye', async () => {
    const engine = await connect();
    engine.hello('eng-1', 'ep1', 6);
    await engine.nth('welcome', 1);
    engine.records(1, samples(2));
    engine.records(3, samples(2, 2));
    engine.sendRaw('{"type":"records"');
    engine.records(5, samples(2, 4));
    engine.send({ type: 'bye', reason: 'done' });
    expect((await engine.closed()).code).toBe(CloseCode.Normal);
    expect(
      engine.received.filter((m) => m.type !== 'ping').map((m) => (m.type === 'ack' ? m.seq : m.type)),
    ).toEqual(['welcome', 2, 4, 'error', 6]);
    expect(store.records('eng-1').map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(links()).toEqual(['offline', 'catching-up', 'available', 'offline']);
  });

  it('stores a frame received just before its link broke; the engine sends it again and it is not stored twice', async () => {
    const first = await connect();
    first.hello('eng-1', 'ep1', 3);
    await first.nth('welcome', 1);
    first.records(1, samples(3));
    // The frame is delivered (a microtask); its group is committed after this turn.
    await Promise.resolve();
    expect(aggregator.groupCommit.size).toBe(1);
    // The link breaks before the commit: no ack can reach the engine.
    network.closeAll('cable pulled');
    await settle();
    expect(first.all('ack')).toEqual([]);
    expect(store.highWaterMark('eng-1', 'ep1')).toBe(3);

    const second = await connect();
    second.hello('eng-1', 'ep1', 3);
    expect((await second.nth('welcome', 1)).ackSeq).toBe(3);
    second.records(1, samples(3));
    expect((await second.nth('ack', 1)).seq).toBe(3);
    expect(store.records('eng-1').map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(view()?.duplicatesIgnored).toBe(3);
  });

  it('closes a connection that never says hello after the heartbeat timeout', async () => {
    const engine = await connect();
    await clock.advance(AGGREGATOR_DEFAULTS.heartbeatTimeoutMs - 1);
    expect(engine.closeInfo).toBeUndefined();
    await clock.advance(1);
    expect((await engine.closed()).code).toBe(CloseCode.HeartbeatTimeout);
    expect(view()?.link).toBe('offline');
  });

  it('keeps epochs apart: a hello with a new epoch starts a new stream', async () => {
    const engine = await connect();
    engine.hello('eng-1', 'ep1', 3);
    engine.records(1, samples(3));
    await engine.nth('ack', 1);
    engine.send({ type: 'bye' });
    await engine.closed();

    const restarted = await connect();
    restarted.hello('eng-1', 'ep2', 2);
    expect((await restarted.nth('welcome', 1)).ackSeq).toBe(0);
    restarted.records(1, samples(2, 100));
    expect((await restarted.nth('ack', 1)).seq).toBe(2);
    expect(view()).toMatchObject({ epoch: 'ep2', persistedSeq: 2, persistedCount: 5, link: 'available' });
    expect(store.records('eng-1', { epoch: 'ep1' }).map((r) => r.value)).toEqual([0, 1, 2]);
    expect(store.records('eng-1', { epoch: 'ep2' }).map((r) => r.value)).toEqual([100, 101]);
  });

  it('after an aggregator restart shows known engines offline and resumes from the persisted marks', async () => {
    dir = mkdtempSync(join(tmpdir(), 'engine-link-restart-'));
    const path = join(dir, 'aggregator.db');
    await aggregator.close();
    aggregator = startAggregator(new SqliteStore(path));

    const engine = await connect();
    engine.hello('eng-1', 'ep1', 6);
    engine.records(1, [...samples(2), ['g', 3, 4, 2, 'overflow'], ...samples(2, 4)]);
    await engine.nth('ack', 1);
    await clock.advance(500);
    const seenAt = clock.now();
    engine.send({ type: 'pong' });
    await settle();
    await aggregator.close();
    expect((await engine.closed()).code).toBe(CloseCode.GoingAway);
    // Views stay readable once the aggregator (and its store) closed.
    expect(aggregator.engine('eng-1')).toMatchObject({ persistedSeq: 6, persistedCount: 4 });

    await clock.advance(60_000);
    aggregator = startAggregator(new SqliteStore(path));
    await aggregator.ready;
    expect(aggregator.engines()).toEqual([
      {
        id: 'eng-1',
        link: 'offline',
        since: seenAt,
        epoch: 'ep1',
        persistedSeq: 6,
        targetSeq: 6,
        persistedCount: 4,
        duplicatesIgnored: 0,
        gaps: [{ epoch: 'ep1', fromSeq: 3, toSeq: 4, count: 2, reason: 'overflow' }],
        lastSeenAt: seenAt,
        currentRun: null,
      },
    ]);

    const back = await connect();
    back.hello('eng-1', 'ep1', 8);
    expect((await back.nth('welcome', 1)).ackSeq).toBe(6);
    expect(view()?.link).toBe('catching-up');
    back.records(5, samples(4, 4));
    expect((await back.nth('ack', 1)).seq).toBe(8);
    expect(view()).toMatchObject({ link: 'available', persistedCount: 6, duplicatesIgnored: 2 });
  });

  it('shows gaps the engine reported', async () => {
    const engine = await connect();
    engine.hello('eng-1', 'ep1', 6);
    engine.records(1, [
      ['s', 'a', 1, 1],
      ['g', 2, 5, 4, 'overflow'],
      ['s', 'a', 6, 6],
    ]);
    expect((await engine.nth('ack', 1)).seq).toBe(6);
    expect(view()).toMatchObject({
      link: 'available',
      persistedCount: 2,
      gaps: [{ epoch: 'ep1', fromSeq: 2, toSeq: 5, count: 4, reason: 'overflow' }],
    });
  });
});
