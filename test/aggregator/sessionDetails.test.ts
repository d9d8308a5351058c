import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import type { StoredRun } from '../../src/aggregator/store/runStore.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { encodeRecordsFrame } from '../../src/protocol/codec.ts';
import type { AggregatorMessage, RunSnapshot } from '../../src/protocol/messages.ts';
import { SimulatedClock, settle } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import type { EngineTransport } from '../../src/transport/sides.ts';
import { capturedLogger } from '../support/logCapture.ts';

/**
 * What an engine's session at the aggregator promises beyond its link states (those are the model's):
 * one engine's failing frame does not take the others' with it, the limits are exact, what it tells
 * engines and operators (errors, logs), and when it last saw an engine.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A store whose saveRun fails while `failing` is set (a disk that fills up, say). */
class FlakyStore extends SqliteStore {
  failing = false;
  override saveRun(run: StoredRun): void {
    if (this.failing) throw new Error('disk full');
    super.saveRun(run);
  }
}

function world(options: { maxRecordsPerFrame?: number } = {}) {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  const store = new FlakyStore(':memory:');
  const { logger, lines: logs } = capturedLogger();
  const aggregator = new Aggregator({ store, clock, logger, ...options });
  network.listen(aggregator);
  cleanups.push(() => aggregator.close());
  return { clock, network, store, aggregator, logs };
}

type World = ReturnType<typeof world>;

/** A hand-driven engine: connects, says hello, sends frames, keeps what it is told. */
async function engine(w: World, engineId: string, epoch = 'ep-1', lastSeq = 0, snapshot?: RunSnapshot) {
  const transport: EngineTransport = w.network.connect({ engineId });
  const received: AggregatorMessage[] = [];
  let closed: { code: number; reason: string } | undefined;
  transport.on('message', (m) => received.push(m));
  transport.on('close', ({ code, reason }) => {
    closed = { code, reason };
  });
  await settle();
  transport.send({ type: 'hello', v: 1, engineId, epoch, lastSeq, ...(snapshot && { snapshot }) });
  await settle();
  return {
    transport,
    received,
    closed: () => closed,
    records(from: number, items: string[]) {
      transport.sendText(encodeRecordsFrame(from, items.join(',')));
    },
  };
}

const samples = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `["s","T",${from + i},${from + i}]`);

describe('one group of frames', () => {
  it("one engine's frame whose run cannot be saved fails alone; another's in the same group is stored", async () => {
    const w = world();
    const a = await engine(w, 'a');
    const b = await engine(w, 'b');
    w.store.failing = true;
    // Read in the same turn: one group, one transaction.
    a.records(1, ['["e","run.started",1,{"runId":"r1"}]']);
    b.records(1, samples(1, 3));
    await settle();
    w.store.failing = false;
    await settle();
    expect(b.received.at(-1)).toEqual({ type: 'ack', seq: 3 });
    expect(w.store.highWaterMark('b', 'ep-1')).toBe(3);
    expect(w.store.highWaterMark('a', 'ep-1')).toBe(0);
    expect(a.received.at(-1)).toMatchObject({ type: 'error', code: 'internal-error' });
    expect(a.closed()?.code).toBe(1011);
    // Nothing of it is half-kept: the engine sends it again and the run starts then.
    expect(await w.aggregator.run('r1')).toBeUndefined();
    const again = await engine(w, 'a', 'ep-1', 1);
    expect(again.received[0]).toMatchObject({ type: 'welcome', ackSeq: 0 });
    again.records(1, ['["e","run.started",1,{"runId":"r1"}]']);
    await settle();
    await settle();
    expect((await w.aggregator.run('r1'))?.state).toBe('active');
  });
});

describe('runs', () => {
  const started = (seq: number, runId: string) => `["e","run.started",${seq},{"runId":"${runId}"}]`;

  it("one engine's lost link leaves another engine's runs as they are", async () => {
    const w = world();
    const a = await engine(w, 'a');
    const b = await engine(w, 'b');
    a.records(1, [started(1, 'ra')]);
    b.records(1, [started(1, 'rb')]);
    await settle();
    a.transport.send({ type: 'bye' });
    await settle();
    expect((await w.aggregator.run('ra'))?.state).toBe('unconfirmed');
    expect((await w.aggregator.run('rb'))?.state).toBe('active');
  });

  it('a run started just after the backlog, in the frame that completes it, is not taken for one the engine no longer runs', async () => {
    const w = world();
    // The engine holds 2 records and runs nothing; record 3, in the same frame, starts a run.
    const e = await engine(w, 'e', 'ep-1', 2, { current: null });
    e.records(1, [...samples(1, 2), started(3, 'fresh')]);
    await settle();
    expect(w.aggregator.engine('e')?.link).toBe('available');
    expect((await w.aggregator.run('fresh'))?.state).toBe('active');
  });
});

describe('limits', () => {
  it('a frame of exactly maxRecordsPerFrame items is stored; one more closes the link (1008)', async () => {
    const w = world({ maxRecordsPerFrame: 3 });
    const e = await engine(w, 'm');
    e.records(1, samples(1, 3));
    await settle();
    expect(e.received.at(-1)).toEqual({ type: 'ack', seq: 3 });
    e.records(4, samples(4, 7));
    await settle();
    expect(e.closed()?.code).toBe(1008);
    expect(w.store.highWaterMark('m', 'ep-1')).toBe(3);
  });
});

describe('what it tells', () => {
  it('an error about one frame says nothing of a wait; records before hello are refused, the link kept', async () => {
    const w = world();
    const transport = w.network.connect({ engineId: 'early' });
    const received: AggregatorMessage[] = [];
    transport.on('message', (m) => received.push(m));
    await settle();
    transport.sendText(encodeRecordsFrame(1, samples(1, 1).join(',')));
    await settle();
    expect(received).toEqual([
      {
        type: 'error',
        code: 'not-ready',
        message: 'records before hello: say hello first, then send records',
      },
    ]);
    expect(transport.state).toBe('open');
  });

  it('logs an engine that claims fewer records than are stored, and one that starts a new epoch', async () => {
    const w = world();
    const first = await engine(w, 'l', 'ep-1', 2);
    first.records(1, samples(1, 2));
    await settle();
    first.transport.send({ type: 'bye' });
    await settle();
    const back = await engine(w, 'l', 'ep-1', 1);
    back.transport.send({ type: 'bye' });
    await settle();
    await engine(w, 'l', 'ep-2', 0);
    const said = w.logs.map(({ level, msg, epoch, lastSeq, persistedSeq, previous }) => ({
      level,
      msg,
      ...(epoch === undefined ? {} : { epoch }),
      ...(lastSeq === undefined ? {} : { lastSeq }),
      ...(persistedSeq === undefined ? {} : { persistedSeq }),
      ...(previous === undefined ? {} : { previous }),
    }));
    expect(said).toContainEqual({
      level: 40,
      msg: 'engine claims fewer records than are persisted for its epoch',
      epoch: 'ep-1',
      lastSeq: 1,
      persistedSeq: 2,
    });
    expect(said).toContainEqual({
      level: 30,
      msg: 'engine started a new epoch',
      epoch: 'ep-2',
      previous: 'ep-1',
    });
    // Neither for an engine that says what is stored, in the epoch it had.
    expect(said.filter((l) => l.msg.startsWith('engine claims'))).toHaveLength(1);
    expect(said.filter((l) => l.msg.startsWith('engine started'))).toHaveLength(1);
  });

  it('logs a lost link and a replaced one, and ignores answers nobody waits for', async () => {
    const w = world();
    const e = await engine(w, 'h');
    e.transport.send({ type: 'commandResult', id: 'nobody', ok: true });
    await settle();
    await engine(w, 'h');
    w.network.blackhole();
    await w.clock.advance(3000);
    const said = w.logs.map((l) => l.msg);
    expect(said).toContain('command result ignored: nobody waits for it');
    expect(said).toContain('a new connection replaces the current one');
    expect(said).toContain('heartbeat timeout: the link is lost');
    expect(e.received.at(-1)).toMatchObject({ type: 'error', code: 'replaced' });
  });
});

describe('when it last saw an engine', () => {
  it('is kept in the store when the link is lost: the last frame it received', async () => {
    const w = world();
    const e = await engine(w, 'seen');
    await w.clock.advance(700);
    e.records(1, samples(1, 1));
    await settle();
    const lastFrameAt = w.clock.now();
    w.network.blackhole();
    await w.clock.advance(3000);
    expect(w.aggregator.engine('seen')?.link).toBe('unavailable');
    expect(w.store.engineSummaries().find((s) => s.engineId === 'seen')?.lastSeenAt).toBe(lastFrameAt);
  });
});
