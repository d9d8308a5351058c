import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Aggregator, type AggregatorEvents } from '../../src/aggregator/aggregator.ts';
import { type AggregatorServer, startAggregatorServer } from '../../src/aggregator/server.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { sealFrame } from '../../src/protocol/codec.ts';
import { CloseCode, ErrorCode } from '../../src/protocol/errors.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import type { Connector } from '../../src/transport/sides.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { HandEngine, samples } from './support.ts';

const SECRET = 'open sesame';
const MAX_FRAME_BYTES = 64 * 1024;

interface Harness {
  aggregator: Aggregator;
  store: SqliteStore;
  connector: Connector;
  close(): Promise<void>;
}

async function memoryHarness(): Promise<Harness> {
  const clock = new SimulatedClock();
  const store = new SqliteStore(':memory:');
  const aggregator = new Aggregator({ store, clock, secret: SECRET, maxFrameBytes: MAX_FRAME_BYTES });
  const network = new MemoryNetwork({ clock, maxFrameBytes: MAX_FRAME_BYTES });
  network.listen(aggregator);
  return { aggregator, store, connector: network, close: () => aggregator.close() };
}

async function webSocketHarness(): Promise<Harness> {
  // A simulated clock that is never advanced: no heartbeat interferes with what is being tested.
  const store = new SqliteStore(':memory:');
  const aggregator = new Aggregator({
    store,
    clock: new SimulatedClock(),
    secret: SECRET,
    maxFrameBytes: MAX_FRAME_BYTES,
  });
  const server: AggregatorServer = await startAggregatorServer({ aggregator, port: 0 });
  return {
    aggregator,
    store,
    connector: new WebSocketConnector(server.wsUrl),
    close: async () => {
      await server.close();
      await aggregator.close();
    },
  };
}

describe.each([
  ['the in-memory network', memoryHarness],
  ['WebSocket (ws)', webSocketHarness],
])('bad input over %s', (name, makeHarness) => {
  let harness: Harness;
  let errors: AggregatorEvents['protocolError'][0][];
  let steadyRecords: ReturnType<SqliteStore['records']>;
  let probes = 0;
  const webSocket = name.startsWith('WebSocket');

  const dial = (engineId: string, token: string | null = SECRET) =>
    new HandEngine(harness.connector.connect({ engineId, token: token ?? undefined }));

  async function connect(engineId: string): Promise<HandEngine> {
    const engine = dial(engineId);
    await engine.opening();
    return engine;
  }

  async function helloed(engineId: string, lastSeq = 0): Promise<HandEngine> {
    const engine = await connect(engineId);
    engine.hello(engineId, 'ep1', lastSeq);
    await engine.nth('welcome', 1);
    return engine;
  }

  beforeEach(async () => {
    harness = await makeHarness();
    errors = [];
    harness.aggregator.on('protocolError', (error) => errors.push(error));
    // An engine whose persisted records no bad input may touch.
    const steady = await helloed('steady', 10);
    steady.records(1, samples(10));
    expect((await steady.nth('ack', 1)).seq).toBe(10);
    steady.send({ type: 'bye' });
    await steady.closed();
    steadyRecords = harness.store.records('steady');
    expect(steadyRecords).toHaveLength(10);
  });

  afterEach(async () => {
    // Whatever happened, the aggregator still serves: another engine connects and persists...
    const probe = `probe-${++probes}`;
    const engine = await helloed(probe, 3);
    engine.records(1, samples(3));
    expect((await engine.nth('ack', 1)).seq).toBe(3);
    expect(harness.aggregator.engine(probe)?.link).toBe('available');
    // ...and what was persisted before is untouched.
    expect(harness.store.records('steady')).toEqual(steadyRecords);
    expect(harness.aggregator.engine('steady')).toMatchObject({ persistedSeq: 10, persistedCount: 10 });
    await harness.close();
  });

  it('answers malformed JSON with malformed-frame and keeps the link', async () => {
    const engine = await helloed('eng-a');
    // Sealed with a correct checksum, so that it is the JSON that is wrong.
    engine.sendRaw(sealFrame('{"type":"records","from":1,}'));
    expect((await engine.error(ErrorCode.MalformedFrame)).message).toMatch(/not JSON/);
    engine.records(1, samples(2));
    expect((await engine.nth('ack', 1)).seq).toBe(2);
    expect(engine.closeInfo).toBeUndefined();
    expect(errors).toEqual([
      { engineId: 'eng-a', code: ErrorCode.MalformedFrame, message: expect.any(String) },
    ]);
  });

  it('answers an unknown message type with unknown-type and keeps the link', async () => {
    const engine = await helloed('eng-a');
    engine.send({ type: 'launch', target: 'moon' });
    expect((await engine.error(ErrorCode.UnknownType)).message).toMatch(/unknown message type "launch"/);
    engine.records(1, samples(1));
    expect((await engine.nth('ack', 1)).seq).toBe(1);
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.UnknownType]);
  });

  it('answers an invalid records frame with invalid-message and stores nothing of it', async () => {
    const engine = await helloed('eng-a');
    engine.send({
      type: 'records',
      from: 1,
      items: [
        ['s', 'a', 1, 1],
        ['x', 'b', 2, 2],
      ],
    });
    expect((await engine.error(ErrorCode.InvalidMessage)).message).toMatch(/items\.1 \(seq 2\)/);
    expect(harness.store.records('eng-a')).toEqual([]);
    engine.records(1, samples(2));
    expect((await engine.nth('ack', 1)).seq).toBe(2);
  });

  it('answers event data nested thousands deep with invalid-message, not internal-error, and keeps the link', async () => {
    const engine = await helloed('eng-a');
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    engine.sendRaw(sealFrame(`{"type":"records","from":1,"items":[["e","too.deep",1767225600000,${deep}]]}`));
    const error = await engine.error(ErrorCode.InvalidMessage);
    expect(error.message).toMatch(/items\.0 \(seq 1\): value nests arrays and objects deeper than 64 levels/);
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.InvalidMessage]);
    engine.records(1, samples(2));
    expect((await engine.nth('ack', 1)).seq).toBe(2);
    expect(engine.closeInfo).toBeUndefined();
    expect(harness.store.records('eng-a')).toHaveLength(2);
  });

  it('closes the link with 1009 on a frame over the size limit, storing nothing of it', async () => {
    const engine = await helloed('eng-a', 5000);
    engine.records(1, samples(3));
    await engine.nth('ack', 1);
    const big = samples(5000, 3);
    expect(JSON.stringify({ type: 'records', from: 4, items: big }).length).toBeGreaterThan(MAX_FRAME_BYTES);
    engine.records(4, big);
    expect((await engine.closed()).code).toBe(CloseCode.MessageTooBig);
    // Over memory the error frame comes first; ws cuts the frame off in its parser and closes at once.
    if (!webSocket)
      expect((await engine.error(ErrorCode.FrameTooLarge)).message).toMatch(/exceeds the limit/);
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.FrameTooLarge]);
    expect(harness.store.records('eng-a').map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(harness.aggregator.engine('eng-a')?.link).toBe('unavailable');
  });

  it('refuses a wrong or missing token at the upgrade (401): nothing opens', async () => {
    const wrong = dial('intruder', 'guess');
    const refused = await wrong.closed();
    expect(wrong.opened).toBe(false);
    expect(refused.refused).toMatchObject({ status: 401, message: 'invalid token for engine intruder' });

    const missing = dial('intruder', null);
    expect((await missing.closed()).refused).toMatchObject({ status: 401, message: /invalid token/ });
    expect(missing.opened).toBe(false);
    expect(harness.aggregator.engine('intruder')).toBeUndefined();
  });

  it('refuses an invalid engine id at the upgrade (400)', async () => {
    const engine = dial('no spaces allowed');
    expect((await engine.closed()).refused).toMatchObject({ status: 400, message: /invalid engine id/ });
    expect(engine.opened).toBe(false);
  });

  it('closes the link (1008) when hello claims another engine id', async () => {
    const engine = await connect('eng-a');
    engine.hello('steady', 'ep1', 99);
    expect((await engine.error(ErrorCode.EngineMismatch)).message).toBe(
      'hello names engine steady, but this link was authorised for engine eng-a',
    );
    expect((await engine.closed()).code).toBe(CloseCode.PolicyViolation);
    expect(harness.aggregator.engine('steady')?.link).toBe('offline');
    expect(harness.aggregator.engine('eng-a')?.link).toBe('offline');
  });

  it('closes the link when hello speaks another protocol version', async () => {
    const engine = await connect('eng-a');
    engine.send({ type: 'hello', v: 2, engineId: 'eng-a', epoch: 'ep1', lastSeq: 0 });
    expect((await engine.error(ErrorCode.UnsupportedVersion)).message).toMatch(/version 2 is not supported/);
    expect((await engine.closed()).code).toBe(CloseCode.ProtocolError);
    expect(engine.all('welcome')).toEqual([]);
  });

  it('answers a second hello on the same link with invalid-message and keeps the link', async () => {
    const engine = await helloed('eng-a');
    engine.hello('eng-a', 'ep2', 0);
    expect((await engine.error(ErrorCode.InvalidMessage)).message).toBe(
      'hello was already received on this link',
    );
    engine.records(1, samples(1));
    expect((await engine.nth('ack', 1)).seq).toBe(1);
    expect(harness.store.records('eng-a', { epoch: 'ep1' })).toHaveLength(1);
    expect(engine.all('welcome')).toHaveLength(1);
  });

  it('answers records before hello with not-ready, storing nothing, and keeps the link', async () => {
    const engine = await connect('eng-a');
    engine.records(1, samples(2));
    expect((await engine.error(ErrorCode.NotReady)).message).toMatch(/records before hello/);
    expect(harness.store.records('eng-a')).toEqual([]);
    engine.hello('eng-a', 'ep1', 2);
    expect((await engine.nth('welcome', 1)).ackSeq).toBe(0);
    engine.records(1, samples(2));
    expect((await engine.nth('ack', 1)).seq).toBe(2);
  });

  it('closes the link on records that skip sequence numbers, keeping what was persisted', async () => {
    const engine = await helloed('eng-a', 10);
    engine.records(1, samples(3));
    await engine.nth('ack', 1);
    const before = harness.store.records('eng-a');

    engine.records(6, samples(5, 5));
    expect((await engine.error(ErrorCode.SequenceGap)).message).toMatch(/4\.\.5 are missing; send from 4/);
    expect((await engine.closed()).code).toBe(CloseCode.ProtocolError);
    expect(engine.all('ack')).toHaveLength(1);
    expect(harness.store.records('eng-a')).toEqual(before);
    expect(harness.aggregator.engine('eng-a')).toMatchObject({ link: 'unavailable', persistedSeq: 3 });
  });
});
