import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { EngineSession } from '../../src/aggregator/session/engineSession.ts';
import { MAX_QUEUED_FRAMES } from '../../src/aggregator/session/frameIngest.ts';
import { IngestThrottle } from '../../src/aggregator/session/ingestThrottle.ts';
import { PendingCommands } from '../../src/aggregator/session/pendingCommands.ts';
import { AsyncSqliteStore } from '../../src/aggregator/store/asyncSqliteStore.ts';
import type { StoredRun } from '../../src/aggregator/store/runStore.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { encodeRecordsFrame } from '../../src/protocol/codec.ts';
import type { AggregatorMessage, RunSnapshot } from '../../src/protocol/messages.ts';
import { SimulatedClock, settle } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import type { EngineTransport } from '../../src/transport/sides.ts';
import { capturedLogger } from '../support/logCapture.ts';
import { HandEngine } from './support.ts';

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
  /** While set, noting when an engine was seen fails. */
  failingTouch = false;
  override saveRun(run: StoredRun): void {
    if (this.failing) throw new Error('disk full');
    super.saveRun(run);
  }
  override touchEngine(engineId: string, epoch: string, at: number): void {
    if (this.failingTouch) throw new Error('disk full');
    super.touchEngine(engineId, epoch, at);
  }
}

function world(options: { maxRecordsPerFrame?: number; maxIngestRate?: number } = {}) {
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
    expect(a.received.at(-1)).toEqual({
      type: 'error',
      code: 'internal-error',
      message: 'the aggregator failed: disk full',
    });
    expect(a.closed()?.code).toBe(1011);
    expect(w.logs.filter((l) => l.msg === 'could not handle a frame')).toMatchObject([
      { level: 50, engineId: 'a', err: { message: 'disk full' } },
    ]);
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
    const reported: unknown[] = [];
    w.aggregator.on('protocolError', (error) => reported.push(error));
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
    // Told to the operator too: an event and a warning, with the code.
    expect(reported).toEqual([
      {
        engineId: 'early',
        code: 'not-ready',
        message: 'records before hello: say hello first, then send records',
      },
    ]);
    expect(w.logs.filter((l) => l.level === 40)).toMatchObject([
      {
        engineId: 'early',
        code: 'not-ready',
        msg: 'records before hello: say hello first, then send records',
      },
    ]);
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
    expect(w.logs.find((l) => l.msg.startsWith('command result ignored'))).toMatchObject({
      level: 20,
      engineId: 'h',
      commandId: 'nobody',
    });
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

describe('a link that ends while its frames are committed', () => {
  const started = (seq: number, runId: string) => `["e","run.started",${seq},{"runId":"${runId}"}]`;

  it('a run started in a frame just before the link broke starts unconfirmed: it is never shown active', async () => {
    const w = world();
    const announced: string[] = [];
    w.aggregator.on('run', (run) => announced.push(`${run.id} ${run.state}`));
    const e = await engine(w, 'u');
    e.records(1, [started(1, 'r')]);
    e.transport.close(1006, 'gone');
    await settle();
    await w.aggregator.groupCommit.flush();
    expect(w.store.highWaterMark('u', 'ep-1')).toBe(1);
    expect((await w.aggregator.run('r'))?.state).toBe('unconfirmed');
    await settle();
    expect(announced).toEqual(['r unconfirmed']);
  });

  it('a hello committed after its link broke leaves the run it confirmed unconfirmed', async () => {
    const w = world();
    const first = await engine(w, 'h');
    first.records(1, [started(1, 'r')]);
    await settle();
    first.transport.send({ type: 'bye' });
    await settle();
    await w.aggregator.groupCommit.flush();
    expect((await w.aggregator.run('r'))?.state).toBe('unconfirmed');
    // Back, running it, and gone again before the hello is answered.
    const transport = w.network.connect({ engineId: 'h' });
    const received: AggregatorMessage[] = [];
    transport.on('message', (m) => received.push(m));
    await settle();
    transport.send({
      type: 'hello',
      v: 1,
      engineId: 'h',
      epoch: 'ep-1',
      lastSeq: 1,
      snapshot: { current: { runId: 'r', phase: 'running', startedAt: 0 } },
    });
    transport.close(1006, 'gone');
    await settle();
    await w.aggregator.groupCommit.flush();
    await settle();
    await w.aggregator.groupCommit.flush();
    expect(received).toEqual([]);
    expect(w.aggregator.engine('h')?.link).toBe('offline');
    expect((await w.aggregator.run('r'))?.state).toBe('unconfirmed');
  });
});

describe('what it tells of a link that ends', () => {
  it('a goodbye without a reason is told as such', async () => {
    const w = world();
    const told: Array<{ link: string; reason?: string }> = [];
    w.aggregator.on('engineState', ({ link, reason }) => told.push({ link, ...(reason && { reason }) }));
    const e = await engine(w, 'b');
    e.transport.send({ type: 'bye' });
    await settle();
    expect(told.slice(-2)).toEqual([{ link: 'available' }, { link: 'offline', reason: 'engine said bye' }]);
  });

  it('a link closed without a reason is told with its code alone', async () => {
    const w = world();
    const told: Array<{ link: string; reason?: string }> = [];
    w.aggregator.on('engineState', ({ link, reason }) => told.push({ link, ...(reason && { reason }) }));
    const e = await engine(w, 'z');
    e.transport.close(1006);
    await settle();
    expect(told.at(-1)).toEqual({ link: 'unavailable', reason: 'link closed (1006)' });
  });

  it('a link closed for a frame over a limit: the close reason is the error cut to 120 characters, and the engine unavailable for it', async () => {
    const w = world({ maxRecordsPerFrame: 3 });
    const told: Array<{ link: string; reason?: string }> = [];
    w.aggregator.on('engineState', ({ link, reason }) => told.push({ link, ...(reason && { reason }) }));
    const e = await engine(w, 'c');
    e.records(1, samples(1, 4));
    await settle();
    const error = e.received.at(-1) as Extract<AggregatorMessage, { type: 'error' }>;
    expect(error.code).toBe('too-many-records');
    expect(error.message.length).toBeGreaterThan(120);
    expect(e.closed()).toEqual({ code: 1008, reason: error.message.slice(0, 120) });
    expect(told.at(-1)).toEqual({ link: 'unavailable', reason: 'closed after too-many-records' });
  });

  it('a store that cannot note when the engine was last seen is logged, and the engine still shown unavailable', async () => {
    const w = world();
    await engine(w, 'n');
    w.store.failingTouch = true;
    w.network.blackhole();
    await w.clock.advance(3000);
    await w.aggregator.groupCommit.flush();
    expect(w.aggregator.engine('n')?.link).toBe('unavailable');
    expect(w.logs.filter((l) => l.msg === 'could not record when the engine was last seen')).toMatchObject([
      { level: 50, engineId: 'n', err: { message: 'disk full' } },
    ]);
  });
});

describe('pings', () => {
  it('an engine acknowledged half a period before the tick is pinged; one acknowledged later is not', async () => {
    const w = world();
    const e = await engine(w, 'p');
    const pings = () => e.received.filter((m) => m.type === 'ping').length;
    // Welcomed now: the pinger ticks every heartbeat period (1000 ms) from here.
    await w.clock.advance(500);
    e.records(1, samples(1, 1));
    await settle();
    expect(e.received.at(-1)).toEqual({ type: 'ack', seq: 1 });
    await w.clock.advance(500);
    expect(pings()).toBe(1);
    await w.clock.advance(501);
    e.records(2, samples(2, 2));
    await settle();
    await w.clock.advance(499);
    expect(pings()).toBe(1);
  });
});

describe('a session on its own', () => {
  /** One engine's session, given its links by hand. */
  function alone() {
    const clock = new SimulatedClock();
    const network = new MemoryNetwork({ clock });
    const store = new SqliteStore(':memory:');
    const session = new EngineSession({
      engineId: 'solo',
      store: new AsyncSqliteStore(store),
      clock,
      heartbeatMs: 1000,
      heartbeatTimeoutMs: 2500,
      logger: pino({ level: 'silent' }),
      events: { emit: () => true },
    });
    network.listen({ authorize: () => ({ ok: true }), accept: (transport) => session.attach(transport) });
    cleanups.push(() => {
      session.stop();
      store.close();
    });
    return { network, session };
  }

  it('without run hooks: a hello, records, a catch-up and a goodbye are answered', async () => {
    const { network, session } = alone();
    const e = new HandEngine(network.connect({ engineId: 'solo' }));
    await e.opening();
    e.hello('solo', 'ep-1', 2);
    await e.nth('welcome', 1);
    e.records(1, [
      ['s', 'T', 1, 1],
      ['s', 'T', 2, 2],
    ]);
    expect(await e.ackAtLeast(2)).toEqual({ type: 'ack', seq: 2 });
    expect(session.link).toBe('available');
    e.send({ type: 'bye' });
    expect(await e.closed()).toMatchObject({ code: 1000, reason: 'bye' });
    expect(session.link).toBe('offline');
  });

  it('a command with no link is answered at once: its outcome is unknown, it never left', async () => {
    const { session } = alone();
    await expect(session.command('c1', 'start', {})).resolves.toEqual({
      status: 'outcome-unknown',
      id: 'c1',
      reason: 'the link closed before the command left',
    });
  });

  it('is connected while a link is attached; once stopped, a link that arrives is closed (1001) at once', async () => {
    const { network, session } = alone();
    const first = new HandEngine(network.connect({ engineId: 'solo' }));
    await first.opening();
    expect(session.connected).toBe(true);
    session.stop();
    session.stop();
    expect(await first.closed()).toMatchObject({ code: 1001, reason: 'aggregator shutting down' });
    expect(session.connected).toBe(false);
    const late = new HandEngine(network.connect({ engineId: 'solo' }));
    expect(await late.closed()).toMatchObject({ code: 1001, reason: 'aggregator shutting down' });
    expect(session.connected).toBe(false);
  });
});

describe('what the store cannot do, and what closing tells', () => {
  it('a hello the store cannot answer is logged, and the link closed as an internal error (1011)', async () => {
    const w = world();
    w.store.failingTouch = true;
    const transport = w.network.connect({ engineId: 'f' });
    const received: AggregatorMessage[] = [];
    let closed: { code: number; reason: string } | undefined;
    transport.on('message', (m) => received.push(m));
    transport.on('close', ({ code, reason }) => {
      closed = { code, reason };
    });
    await settle();
    transport.send({ type: 'hello', v: 1, engineId: 'f', epoch: 'ep-1', lastSeq: 0 });
    await settle();
    await w.aggregator.groupCommit.flush();
    await settle();
    expect(received).toEqual([
      { type: 'error', code: 'internal-error', message: 'the aggregator failed: disk full' },
    ]);
    expect(closed?.code).toBe(1011);
    expect(w.logs.filter((l) => l.msg === 'could not answer a hello')).toMatchObject([
      { level: 50, engineId: 'f', err: { message: 'disk full' } },
    ]);
  });

  it('a link that never said hello notes nothing when it ends', async () => {
    const w = world();
    const transport = w.network.connect({ engineId: 'quiet' });
    await settle();
    transport.close(1006, 'gone');
    await settle();
    await w.aggregator.groupCommit.flush();
    expect(w.logs.filter((l) => l.level >= 50)).toEqual([]);
    expect(w.store.engineSummaries().map((s) => s.engineId)).not.toContain('quiet');
  });

  it('closing the aggregator closes the links (1001) and tells no change of an engine’s state', async () => {
    const w = world();
    const told: string[] = [];
    const e = await engine(w, 'c');
    w.aggregator.on('engineState', ({ link }) => told.push(link));
    await w.aggregator.close();
    expect(e.closed()).toEqual({ code: 1001, reason: 'aggregator shutting down' });
    expect(told).toEqual([]);
  });

  it('over the ingest rate, that acknowledgements wait is logged once', async () => {
    const w = world({ maxIngestRate: 10 });
    const e = await engine(w, 'r');
    for (let i = 0; i < 4; i++) e.records(1 + i * 10, samples(1 + i * 10, 10 + i * 10));
    await settle();
    expect(w.logs.filter((l) => l.msg === 'over the ingest rate: acknowledgements wait')).toMatchObject([
      { level: 20, engineId: 'r', rate: 10 },
    ]);
  });
});

describe('limits, exactly', () => {
  it('over the ingest rate, MAX_QUEUED_FRAMES frames may wait; one more is told busy and closes the link (1013)', async () => {
    const w = world({ maxIngestRate: 10 });
    const e = await engine(w, 'q', 'ep-1', 1000);
    const frame = (i: number) => e.records(1 + i * 10, samples(1 + i * 10, 10 + i * 10));
    // The burst (10) and one frame of debt pass at once; the next ones wait.
    for (let i = 0; i < 2 + MAX_QUEUED_FRAMES; i++) frame(i);
    await settle();
    expect(e.closed()).toBeUndefined();
    frame(2 + MAX_QUEUED_FRAMES);
    await settle();
    expect(e.closed()?.code).toBe(1013);
    expect(e.received.at(-1)).toMatchObject({ type: 'error', code: 'busy' });
  });

  it('an engine silent for the heartbeat timeout is closed (4000) as a heartbeat timeout, and how long it was silent logged', async () => {
    const w = world();
    const e = await engine(w, 's');
    await w.clock.advance(3000);
    expect(e.closed()).toEqual({ code: 4000, reason: 'heartbeat timeout' });
    const logged = w.logs.find((l) => l.msg === 'heartbeat timeout: the link is lost');
    expect(logged?.silentMs).toBeGreaterThanOrEqual(2000);
  });
});

describe('pending commands', () => {
  it('each outcome exactly: ok, failed (named or not), timed out, shared by a repeat, refused under a reused id, unknown', async () => {
    const clock = new SimulatedClock();
    const pending = new PendingCommands(clock, 1000);
    const sent: string[] = [];
    const send = (id: string) => () => {
      sent.push(id);
      return true;
    };
    const result = (id: string, ok: boolean, more: Record<string, unknown> = {}) =>
      pending.settle({ type: 'commandResult', id, ok, ...more });

    const ok = pending.start('a', { name: 'x' }, send('a'));
    expect(pending.size).toBe(1);
    expect(result('a', true)).toBe(true);
    await expect(ok).resolves.toEqual({ status: 'ok', id: 'a', result: null });
    const failed = pending.start('b', { name: 'x' }, send('b'));
    result('b', false);
    await expect(failed).resolves.toEqual({
      status: 'failed',
      id: 'b',
      code: 'command-failed',
      message: 'the engine reported a failure',
    });
    const named = pending.start('c', { name: 'x' }, send('c'));
    result('c', false, { error: { code: 'jammed', message: 'the valve is stuck' } });
    await expect(named).resolves.toEqual({
      status: 'failed',
      id: 'c',
      code: 'jammed',
      message: 'the valve is stuck',
    });

    let slowOutcome: unknown;
    void pending.start('d', { name: 'x' }, send('d')).then((outcome) => {
      slowOutcome = outcome;
    });
    await clock.advance(999);
    expect(slowOutcome).toBeUndefined();
    await clock.advance(1);
    expect(slowOutcome).toEqual({ status: 'timeout', id: 'd', timeoutMs: 1000 });
    // A late answer finds nobody waiting.
    expect(result('d', true)).toBe(false);

    const first = pending.start('e', { name: 'x', args: { n: 1 } }, send('e'));
    expect(pending.start('e', { name: 'x', args: { n: 1 } }, send('e'))).toBe(first);
    await expect(pending.start('e', { name: 'y' }, send('e'))).resolves.toMatchObject({
      status: 'failed',
      id: 'e',
      code: 'id-reused',
    });
    expect(sent).toEqual(['a', 'b', 'c', 'd', 'e']);
    pending.failAll('link lost');
    await expect(first).resolves.toEqual({ status: 'outcome-unknown', id: 'e', reason: 'link lost' });
    expect(pending.size).toBe(0);
  });
});

describe('the ingest throttle', () => {
  it('refuses a rate that is not above 0', () => {
    const clock = new SimulatedClock();
    expect(() => new IngestThrottle(0, 1, clock)).toThrow(
      new RangeError('the ingest rate must be above 0 records per second'),
    );
    expect(() => new IngestThrottle(Number.NaN, 1, clock)).toThrow(RangeError);
  });

  it('lets a burst through, then makes the debt wait to the millisecond; idle time refills up to the burst only', async () => {
    const clock = new SimulatedClock();
    const throttle = new IngestThrottle(10, 10, clock);
    expect(throttle.waitMs()).toBe(0);
    throttle.take(15);
    expect(throttle.waitMs()).toBe(500);
    await clock.advance(499);
    expect(throttle.waitMs()).toBe(1);
    await clock.advance(1);
    expect(throttle.waitMs()).toBe(0);
    // Ten seconds idle: the bucket is full again, no fuller.
    await clock.advance(10_000);
    throttle.take(11);
    expect(throttle.waitMs()).toBe(100);
  });
});

describe('an engine known from the store', () => {
  it('is shown offline since it was last seen, as the store says', async () => {
    const clock = new SimulatedClock();
    const store = new SqliteStore(':memory:');
    store.touchEngine('k', 'ep-1', 1234);
    const aggregator = new Aggregator({ store, clock });
    cleanups.push(() => aggregator.close());
    await aggregator.ready;
    expect(aggregator.engine('k')).toMatchObject({
      link: 'offline',
      since: 1234,
      lastSeenAt: 1234,
      epoch: 'ep-1',
    });
  });
});
