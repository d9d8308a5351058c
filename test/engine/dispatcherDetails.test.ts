import { afterEach, describe, expect, it } from 'vitest';
import { engineLinkMachine } from '../../machines/engineLink.ts';
import { OfflineWatch } from '../../src/engine/offlineWatch.ts';
import { AuthRejectedError, ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { encodeMessage } from '../../src/protocol/codec.ts';
import { ProtocolError } from '../../src/protocol/errors.ts';
import { encodeRecord, InvalidRecordError } from '../../src/protocol/records.ts';
import { SimulatedClock, settle } from '../../src/time/simulatedClock.ts';
import { type LinkRuntime, startLink } from '../model/runtimes/engineLinkRuntime.ts';
import { RuntimeRecorder } from '../model/support/runtimeRecorder.ts';
import { memoryWorld } from '../support/memoryWorld.ts';
import { until } from '../support/until.ts';

/**
 * What the resilient dispatcher promises beyond its link's states (those are the model's): the limits
 * of send(), drain(), the window of frames in flight, what it does with the aggregator's odd frames, and
 * what a rejection tells the user. Against a scripted aggregator (the model's) or a real one in memory.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function scripted(overrides: Parameters<typeof startLink>[1] = {}): Promise<LinkRuntime> {
  const rt = await startLink(new RuntimeRecorder(engineLinkMachine), overrides);
  cleanups.push(() => rt.engine.close());
  return rt;
}

/** Opens the link and welcomes it with `ackSeq` (default: all the engine holds). */
async function welcome(rt: LinkRuntime, ackSeq = rt.engine.stats.lastSeq) {
  rt.aggregator.decision = { ok: true };
  expect(rt.network.releaseConnects()).toBe(1);
  await settle();
  const link = rt.aggregator.current!;
  rt.aggregator.welcome(link, ackSeq);
  await settle();
  return link;
}

function sample(value: number | string) {
  return { kind: 'sample' as const, tag: 'T', value };
}

describe('send()', () => {
  it('refuses records once the dispatcher is closed, naming it', async () => {
    const rt = await scripted();
    await rt.engine.close();
    expect(() => rt.engine.send(sample(1))).toThrow('dispatcher for model-1 is closed');
  });

  it('takes a record as large as a frame allows, and refuses one byte more', async () => {
    const rt = await scripted({ maxFrameBytes: 1000 });
    const now = rt.clock.now();
    const bare = encodeRecord(sample(''), now).length;
    const limit = 1000 - 128;
    rt.engine.send(sample('x'.repeat(limit - bare)));
    expect(rt.engine.stats.lastSeq).toBe(1);
    expect(() => rt.engine.send(sample('x'.repeat(limit - bare + 1)))).toThrow(InvalidRecordError);
    expect(rt.engine.stats.lastSeq).toBe(1);
  });

  it('frames up to its window unacknowledged, then one more per acknowledgement', async () => {
    const rt = await scripted({ windowFrames: 2, outbox: { batchRecords: 1 } });
    for (let i = 0; i < 5; i++) rt.engine.send(sample(i));
    const link = await welcome(rt, 0);
    expect(link.frames.map((f) => f.from)).toEqual([1, 2]);
    rt.aggregator.ack(link, 1);
    await settle();
    expect(link.frames.map((f) => f.from)).toEqual([1, 2, 3]);
    rt.aggregator.ack(link, 3);
    await settle();
    expect(link.frames.map((f) => f.from)).toEqual([1, 2, 3, 4, 5]);
  });

  it('tells the aggregator, with a gap, of records it once acknowledged and no longer holds', async () => {
    const rt = await scripted();
    for (let i = 0; i < 3; i++) rt.engine.send(sample(i));
    const first = await welcome(rt, 0);
    rt.aggregator.ack(first, 3);
    await settle();
    expect(rt.engine.stats.acked).toBe(3);
    // The aggregator comes back from a restored store that holds only the first record.
    first.transport.close(1012, 'restart');
    await settle();
    // A record produced meanwhile follows the gap.
    rt.engine.send(sample(3));
    await rt.clock.advance(rt.retries.at(-1)!.delayMs);
    const second = await welcome(rt, 1);
    expect(second.frames[0]).toEqual({ from: 2, items: [['g', 2, 3, 0, 'acknowledged-lost']] });
    expect(second.frames.map((f) => [f.from, f.items.length])).toEqual([
      [2, 1],
      [4, 1],
    ]);
  });
});

describe('drain()', () => {
  it('is true at once when everything is acknowledged, false after its timeout when not, true on the ack', async () => {
    const world = memoryWorld(cleanups);
    const engine = new ResilientDispatcher({ engineId: 'd1', connector: world.network, clock: world.clock });
    cleanups.push(() => engine.close());
    await until('connected', () => engine.state === 'connected', world.clock);
    await expect(engine.drain(1000)).resolves.toBe(true);

    world.network.refuseConnects();
    world.network.closeAll();
    engine.send(sample(1));
    const late = engine.drain(1000);
    await world.clock.advance(999);
    let settled = false;
    void late.then(() => {
      settled = true;
    });
    await settle();
    expect(settled).toBe(false);
    await world.clock.advance(1);
    await expect(late).resolves.toBe(false);

    const onTime = engine.drain(60_000);
    world.network.refuseConnects(false);
    await until('acknowledged', () => engine.stats.backlog === 0, world.clock);
    await expect(onTime).resolves.toBe(true);
    expect(world.clock.now()).toBeLessThan(Date.UTC(2026, 0, 1) + 60_000);
  });
});

describe("the aggregator's odd frames", () => {
  it('an error it can go on from keeps the link; a bad checksum reported closes it (1002) to send again', async () => {
    const rt = await scripted();
    const link = await welcome(rt);
    link.transport.send({ type: 'error', code: 'not-ready', message: 'say hello first' });
    await settle();
    expect(rt.errors.at(-1)).toBeInstanceOf(ProtocolError);
    expect(rt.errors.at(-1)!.message).toContain('aggregator: say hello first');
    expect(link.transport.state).toBe('open');
    link.transport.send({ type: 'error', code: 'bad-checksum', message: 'frame 7 was corrupted' });
    await settle();
    expect(link.closed).toEqual({ code: 1002, reason: 'a frame was corrupted on the way: sending again' });
  });

  it('a frame it cannot read, with a sound checksum, is reported and the link kept', async () => {
    const rt = await scripted();
    const link = await welcome(rt);
    const errors = rt.errors.length;
    link.transport.send({ type: 'mystery', v: 2 } as never);
    await settle();
    expect(rt.errors.length).toBe(errors + 1);
    expect(link.transport.state).toBe('open');
    expect(rt.engine.state).toBe('connected');
  });

  it('an acknowledgement beyond what was sent is not believed: the link is closed (1002)', async () => {
    const rt = await scripted();
    rt.engine.send(sample(1));
    const link = await welcome(rt, 0);
    rt.aggregator.ack(link, 5);
    await settle();
    expect(rt.engine.stats.acked).toBe(0);
    expect(link.closed).toEqual({ code: 1002, reason: 'acknowledgement beyond what was sent' });
  });
});

describe('a rejection', () => {
  for (const [status, fix] of [
    [401, 'the token'],
    [403, 'the token'],
    [400, 'the engine id or URL'],
    [404, 'the engine id or URL'],
  ] as const) {
    it(`${status} tells to fix ${fix}, and when it tries again`, async () => {
      const rt = await scripted({ rejectedRetryMs: 1500 });
      rt.aggregator.decision = { ok: false, status, message: 'no' };
      rt.network.releaseConnects();
      await settle();
      const error = rt.errors.at(-1) as AuthRejectedError;
      expect(error).toBeInstanceOf(AuthRejectedError);
      expect(error.message).toBe(
        `aggregator refused engine model-1: ${status} no. Records are kept; trying again in 1.5 s ` +
          `(fix ${fix}, or call reconnect() to try at once).`,
      );
    });
  }

  it('an upgrade refused for another reason (503) is retried soon, with the refusal as reason', async () => {
    const rt = await scripted();
    rt.aggregator.decision = { ok: false, status: 503, message: 'full', retryAfterMs: 3000 };
    rt.network.releaseConnects();
    await settle();
    expect(rt.engine.state).toBe('buffering.waiting');
    expect(rt.retries.at(-1)).toMatchObject({ attempt: 1, reason: 'refused (503): full' });
    expect(rt.retries.at(-1)!.delayMs).toBeGreaterThanOrEqual(3000);
  });
});

describe('while the link is down', () => {
  it('keeps a state of one key when states of another are coalesced on overflow', async () => {
    const world = memoryWorld(cleanups);
    world.network.refuseConnects();
    const engine = new ResilientDispatcher({
      engineId: 'c1',
      connector: world.network,
      clock: world.clock,
      outbox: { maxRecords: 10 },
    });
    cleanups.push(() => engine.close());
    engine.send({ kind: 'state', key: 'a', value: 1 });
    for (let i = 1; i <= 20; i++) engine.send({ kind: 'state', key: 'b', value: i });
    expect(engine.stats.coalesced).toBeGreaterThan(0);
    world.network.refuseConnects(false);
    await until('caught up', () => engine.state === 'connected' && engine.stats.backlog === 0, world.clock);
    const states = world.store.records('c1', { epoch: engine.stats.epoch }).filter((r) => r.kind === 'state');
    expect(states.filter((r) => r.key === 'a').map((r) => r.value)).toEqual([1]);
    expect(states.filter((r) => r.key === 'b').at(-1)?.value).toBe(20);
  });

  it('thins samples to windows that carry the time each was sent', async () => {
    const world = memoryWorld(cleanups);
    world.network.refuseConnects();
    const engine = new ResilientDispatcher({
      engineId: 's1',
      connector: world.network,
      clock: world.clock,
      offlineSampleIntervalMs: 1000,
    });
    cleanups.push(() => engine.close());
    await world.clock.advance(250);
    const sentAt = world.clock.now();
    engine.send(sample(5));
    await world.clock.advance(2000);
    world.network.refuseConnects(false);
    await until('caught up', () => engine.state === 'connected' && engine.stats.backlog === 0, world.clock);
    const stored = world.store.records('s1', { epoch: engine.stats.epoch });
    expect(stored.map((r) => [r.value, r.t])).toEqual([[5, sentAt]]);
  });

  it('tells the backlog at most once per backlogEventMs, with its size', async () => {
    const rt = await scripted({ backlogEventMs: 100 });
    const told: Array<{ records: number; at: number }> = [];
    rt.engine.on('backlog', ({ records }) => told.push({ records, at: rt.clock.now() }));
    const start = rt.clock.now();
    for (let i = 0; i < 3; i++) rt.engine.send(sample(i));
    await rt.clock.advance(99);
    expect(told).toEqual([]);
    await rt.clock.advance(1);
    expect(told).toEqual([{ records: 3, at: start + 100 }]);
    rt.engine.send(sample(4));
    await rt.clock.advance(100);
    expect(told).toEqual([
      { records: 3, at: start + 100 },
      { records: 4, at: start + 200 },
    ]);
  });

  it('a record sent while up leaves at once, in a frame of its own', async () => {
    const rt = await scripted();
    const link = await welcome(rt);
    rt.engine.send(sample(1));
    rt.engine.send(sample(2));
    await new Promise<void>((resolve) => setImmediate(resolve));
    await settle();
    expect(link.frames.map((f) => [f.from, f.items.length])).toEqual([[1, 2]]);
  });
});

describe('drain() and the backlog age', () => {
  it('drain() waits for every record, not for the first acknowledgement', async () => {
    const rt = await scripted({ outbox: { batchRecords: 1 } });
    rt.engine.send(sample(1));
    rt.engine.send(sample(2));
    const link = await welcome(rt, 0);
    let drained: boolean | undefined;
    void rt.engine.drain(60_000).then((value) => {
      drained = value;
    });
    rt.aggregator.ack(link, 1);
    await settle();
    expect(drained).toBeUndefined();
    rt.aggregator.ack(link, 2);
    await settle();
    expect(drained).toBe(true);
  });

  it('drain() names its timeout when it refuses one', async () => {
    const rt = await scripted();
    expect(() => rt.engine.drain(-1)).toThrow(/^drain timeoutMs must be a number of milliseconds/);
  });

  it('the backlog age: 0 with nothing waiting, then how long the oldest record has waited, 0 once acknowledged', async () => {
    const rt = await scripted();
    expect(rt.engine.backlogAgeMs).toBe(0);
    rt.engine.send(sample(1));
    // (Within the connect timeout: the attempt under way is answered below.)
    await rt.clock.advance(3000);
    rt.engine.send(sample(2));
    expect(rt.engine.backlogAgeMs).toBeGreaterThanOrEqual(3000);
    expect(rt.engine.backlogAgeMs).toBeLessThanOrEqual(3100);
    const link = await welcome(rt, 0);
    rt.aggregator.ack(link, 2);
    await settle();
    expect(rt.engine.stats.backlog).toBe(0);
    expect(rt.engine.backlogAgeMs).toBe(0);
  });
});

describe('flush progress', () => {
  it('a later flush counts from what was acknowledged; none is told once connected', async () => {
    const rt = await scripted({ outbox: { batchRecords: 1 } });
    for (let i = 0; i < 3; i++) rt.engine.send(sample(i));
    const first = await welcome(rt, 0);
    rt.aggregator.ack(first, 3);
    await settle();
    expect(rt.engine.state).toBe('connected');
    first.transport.close(1012, 'restart');
    await settle();
    rt.engine.send(sample(3));
    rt.engine.send(sample(4));
    await rt.clock.advance(rt.retries.at(-1)!.delayMs);
    const told = rt.flushProgress.length;
    const second = await welcome(rt, 3);
    expect(rt.engine.state).toBe('flushing');
    rt.aggregator.ack(second, 4);
    await settle();
    rt.aggregator.ack(second, 5);
    await settle();
    expect(rt.engine.state).toBe('connected');
    // Told as the flush starts and as the welcome is taken, then with each acknowledgement.
    expect(rt.flushProgress.slice(told)).toEqual([
      { sent: 0, total: 2 },
      { sent: 0, total: 2 },
      { sent: 1, total: 2 },
      { sent: 2, total: 2 },
    ]);
    rt.engine.send(sample(5));
    await new Promise<void>((resolve) => setImmediate(resolve));
    await settle();
    rt.aggregator.ack(second, 6);
    await settle();
    expect(rt.engine.stats.acked).toBe(6);
    expect(rt.flushProgress.length).toBe(told + 4);
  });
});

describe('why the link went down, and how long to wait', () => {
  it('a link closed without a reason is told as closed with its code', async () => {
    const rt = await scripted();
    const link = await welcome(rt);
    link.transport.close(1011);
    await settle();
    expect(rt.retries.at(-1)?.reason).toBe('closed (1011)');
  });

  it('a wait asked for in an error frame holds until the link closes, past an error that asks none', async () => {
    const rt = await scripted();
    const link = await welcome(rt);
    link.transport.send({ type: 'error', code: 'busy', message: 'later', retryAfterMs: 8000 });
    link.transport.send({ type: 'error', code: 'not-ready', message: 'say hello first' });
    await settle();
    link.transport.close(1013, 'busy');
    await settle();
    expect(rt.retries.at(-1)).toMatchObject({ attempt: 1, reason: 'closed (1013 busy)' });
    expect(rt.retries.at(-1)!.delayMs).toBeGreaterThanOrEqual(8000);
  });

  it('a frame from the aggregator corrupted on the way closes the link (1002), to start over', async () => {
    const rt = await scripted();
    const link = await welcome(rt);
    link.transport.sendText(encodeMessage({ type: 'ping', t: 1 }).replace('"t":1', '"t":2'));
    await settle();
    expect(rt.errors.at(-1)).toMatchObject({ code: 'bad-checksum' });
    expect(link.closed).toEqual({
      code: 1002,
      reason: 'a frame from the aggregator was corrupted on the way',
    });
  });

  it('a refusal without a detail names its status alone', async () => {
    const rt = await scripted({ rejectedRetryMs: 1500 });
    rt.aggregator.decision = { ok: false, status: 401, message: '' };
    rt.network.releaseConnects();
    await settle();
    const error = rt.errors.at(-1) as AuthRejectedError;
    expect(error).toMatchObject({ status: 401, detail: '' });
    expect(error.message).toBe(
      'aggregator refused engine model-1: 401. Records are kept; trying again in 1.5 s ' +
        '(fix the token, or call reconnect() to try at once).',
    );
  });

  it('reconnect() while rejected cancels the slow retry: the next wait is the one the next refusal asks for', async () => {
    const rt = await scripted({ rejectedRetryMs: 1500 });
    rt.aggregator.decision = { ok: false, status: 401, message: 'no' };
    rt.network.releaseConnects();
    await settle();
    expect(rt.engine.state).toBe('rejected');
    rt.engine.reconnect();
    await settle();
    rt.aggregator.decision = { ok: false, status: 503, message: 'full', retryAfterMs: 10_000 };
    expect(rt.network.releaseConnects()).toBe(1);
    await settle();
    expect(rt.engine.state).toBe('buffering.waiting');
    const connects = rt.connects;
    await rt.clock.advance(rt.retries.at(-1)!.delayMs - 1);
    expect(rt.engine.state).toBe('buffering.waiting');
    expect(rt.connects).toBe(connects);
  });
});

describe('a welcome that acknowledges more than the engine numbered (an outbox restored from a copy)', () => {
  /** Opens the link: the hello goes out with what the engine holds now. */
  async function opened(rt: LinkRuntime) {
    rt.aggregator.decision = { ok: true };
    expect(rt.network.releaseConnects()).toBe(1);
    await settle();
    return rt.aggregator.current!;
  }

  it('numbers the next records after it, and says so', async () => {
    const rt = await scripted();
    rt.engine.send(sample(1));
    rt.engine.send(sample(2));
    const link = await opened(rt);
    expect(link.hello?.lastSeq).toBe(2);
    rt.aggregator.welcome(link, 5);
    await settle();
    expect(rt.errors.map((e) => e.message)).toEqual([
      `invalid-message: the aggregator already holds records up to 5 of epoch ${rt.engine.stats.epoch}, beyond ` +
        "this engine's last (2): was its outbox restored from an older copy? New records are numbered after 5",
    ]);
    expect(rt.engine.stats).toMatchObject({ lastSeq: 5, acked: 5 });
    rt.engine.send(sample(3));
    await new Promise<void>((resolve) => setImmediate(resolve));
    await settle();
    expect(link.frames.map((f) => f.from)).toEqual([6]);
  });

  it('says which records numbered since the hello were taken for the aggregator’s', async () => {
    const rt = await scripted();
    rt.engine.send(sample(1));
    rt.engine.send(sample(2));
    const link = await opened(rt);
    for (let i = 3; i <= 5; i++) rt.engine.send(sample(i));
    rt.aggregator.welcome(link, 5);
    await settle();
    expect(rt.errors.map((e) => e.message)).toEqual([
      expect.stringMatching(
        /beyond this engine's last \(2\): .* numbered after 5; records 3\.\.5, numbered meanwhile, were taken for the aggregator's$/,
      ),
    ]);
    expect(rt.engine.stats).toMatchObject({ lastSeq: 5, acked: 5, backlog: 0 });
    expect(rt.engine.state).toBe('connected');
  });
});

describe('offline sampling', () => {
  it('a sample given its own time keeps it, and is thinned in the window of that time', async () => {
    const world = memoryWorld(cleanups);
    world.network.refuseConnects();
    const engine = new ResilientDispatcher({
      engineId: 't1',
      connector: world.network,
      clock: world.clock,
      offlineSampleIntervalMs: 1000,
    });
    cleanups.push(() => engine.close());
    // Sent together, of two windows by their own times: neither is thinned into the other.
    engine.send({ kind: 'sample', tag: 'T', value: 1, t: 1234 });
    engine.send({ kind: 'sample', tag: 'T', value: 2, t: 5678 });
    await world.clock.advance(2000);
    world.network.refuseConnects(false);
    await until('caught up', () => engine.state === 'connected' && engine.stats.backlog === 0, world.clock);
    expect(world.store.records('t1', { epoch: engine.stats.epoch }).map((r) => [r.value, r.t])).toEqual([
      [1, 1234],
      [2, 5678],
    ]);
  });

  it('thinned samples are samples to the outbox: dropped first when it overflows', async () => {
    const world = memoryWorld(cleanups);
    world.network.refuseConnects();
    const engine = new ResilientDispatcher({
      engineId: 't2',
      connector: world.network,
      clock: world.clock,
      offlineSampleIntervalMs: 100,
      outbox: { maxRecords: 4, batchRecords: 1 },
    });
    cleanups.push(() => engine.close());
    const gaps: string[] = [];
    engine.on('gap', ({ reason }) => gaps.push(reason));
    // Two samples of each of ten tags in one window: ten thinned records when it closes.
    for (let tag = 0; tag < 10; tag++)
      for (let value = 0; value < 2; value++) engine.send({ kind: 'sample', tag: `T${tag}`, value });
    await world.clock.advance(200);
    expect(engine.stats.dropped).toBeGreaterThan(0);
    expect(gaps).toContain('overflow');
  });
});

describe('the offline watch', () => {
  it('tells its state: offline at first, online with the link, too long offline after its limit', async () => {
    const clock = new SimulatedClock();
    const told: string[] = [];
    const watch = new OfflineWatch({
      limitMs: 1000,
      clock,
      onTooLong: () => told.push('too long'),
      onOnlineAgain: () => told.push('online again'),
    });
    cleanups.push(() => watch.stop());
    expect(watch.state).toBe('offline');
    watch.linkUp();
    expect(watch.state).toBe('online');
    watch.linkDown();
    await clock.advance(1000);
    expect(watch.state).toBe('offlineTooLong');
    expect(told).toEqual(['too long']);
  });
});
