import { afterEach, describe, expect, it } from 'vitest';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { encodeMessage, encodeRecordsFrame } from '../../src/protocol/codec.ts';
import { ErrorCode } from '../../src/protocol/errors.ts';
import { SimulatedClock, settle } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import type { AggregatorTransport, Connector } from '../../src/transport/sides.ts';
import { HandEngine } from '../aggregator/support.ts';
import { memoryWorld } from '../support/memoryWorld.ts';
import { until } from '../support/until.ts';

/**
 * What each side does with a frame that fails its checksum: nothing of it is used, and the link
 * recovers so that every record is stored once, with the value sent (no loss, no altered record).
 */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** `text` with the character at `at` replaced by `by` (checksum left as it was). */
function replaceAt(text: string, at: number, by: string): string {
  return `${text.slice(0, at)}${by}${text.slice(at + 1)}`;
}

/** A corrupted copy of a records frame: the first digit of the value of its item `index` changed. */
function alterValue(frame: string, index = 0): string {
  const items = frame.indexOf('"items":[');
  let at = items;
  for (let i = 0; i <= index; i++) at = frame.indexOf('["s",', at + 1);
  // ["s","T",<t>,<value>: the value starts after the third comma of the item.
  let commas = 0;
  while (commas < 3) if (frame[at++] === ',') commas++;
  const digit = frame[at]!;
  return replaceAt(frame, at, digit === '9' ? '8' : String(Number(digit) + 1));
}

const world = () => memoryWorld(cleanups);

describe('a corrupted frame at the aggregator', () => {
  it('is answered with bad-checksum, stores nothing, keeps the link; the frame sent again is stored as sent', async () => {
    const { network, store, aggregator } = world();
    const errors: string[] = [];
    aggregator.on('protocolError', (e) => errors.push(e.code));
    const engine = new HandEngine(network.connect({ engineId: 'eng-1' }));
    await engine.opening();
    engine.hello('eng-1', 'ep1', 3);
    await engine.nth('welcome', 1);
    const frame = encodeRecordsFrame(1, '["s","T",1,11],["s","T",2,22],["s","T",3,33]');

    // A value changed on the way: valid JSON, a valid message, and not what was sent.
    const altered = alterValue(frame, 1);
    expect(altered).toContain('["s","T",2,32]');
    engine.sendRaw(altered);
    expect((await engine.error(ErrorCode.BadChecksum)).message).toMatch(
      /^frame checksum mismatch: expected \d+, computed \d+; the frame was corrupted in transit and was not used: send it again$/,
    );
    // The start sequence number changed: would store the records under other numbers.
    engine.sendRaw(frame.replace('"from":1', '"from":2'));
    // No checksum at all.
    engine.sendRaw(`${frame.slice(0, frame.lastIndexOf(',"crc":'))}}`);
    await engine.until('three errors', () => engine.all('error').length === 3 || undefined);
    expect(engine.all('error').map((e) => e.code)).toEqual(Array(3).fill(ErrorCode.BadChecksum));
    expect(errors).toEqual(Array(3).fill(ErrorCode.BadChecksum));
    expect(store.records('eng-1')).toEqual([]);
    expect(engine.closeInfo).toBeUndefined();

    engine.sendRaw(frame);
    expect((await engine.nth('ack', 1)).seq).toBe(3);
    expect(store.records('eng-1').map((r) => [r.seq, r.value])).toEqual([
      [1, 11],
      [2, 22],
      [3, 33],
    ]);
  });
});

describe('a corrupted frame at the engine', () => {
  it('an ack altered to a higher sequence number it did send is not believed: the engine reconnects, the welcome tells the truth', async () => {
    const clock = new SimulatedClock();
    const network = new MemoryNetwork({ clock });
    const links: AggregatorTransport[] = [];
    network.listen({ authorize: () => ({ ok: true }), accept: (transport) => void links.push(transport) });
    const engine = new ResilientDispatcher({ engineId: 'e1', connector: network, clock, random: () => 0 });
    cleanups.push(() => engine.close());
    const errors: string[] = [];
    engine.on('error', (e) => errors.push(e.message));
    await until('connect', () => links.length === 1, clock);
    await settle();
    links[0]!.send({ type: 'welcome', v: 1, ackSeq: 0, heartbeatMs: 1000 });
    await until('connected', () => engine.state === 'connected', clock);
    for (let i = 0; i < 10; i++) engine.send({ kind: 'sample', tag: 'T', value: i });
    await settle();

    // The aggregator persisted 1..5 and says so; on the way "5" became "9": records 6..9 would be lost.
    const ack = encodeMessage({ type: 'ack', seq: 5 });
    links[0]!.sendText(ack.replace('"seq":5', '"seq":9'));
    await settle();
    expect(engine.stats).toMatchObject({ acked: 0, backlog: 10 });
    expect(errors.at(-1)).toMatch(/^bad-checksum: frame checksum mismatch/);
    expect(links[0]!.state).toBe('closed');

    await until('reconnect', () => links.length === 2, clock);
    await settle();
    links[1]!.send({ type: 'welcome', v: 1, ackSeq: 5, heartbeatMs: 1000 });
    await settle();
    expect(engine.state).toBe('flushing');
    expect(engine.stats).toMatchObject({ acked: 5, backlog: 5 });
  });

  it('a corrupted frame each way (records, then an ack): every record stored once, with the value sent', async () => {
    const { clock, network, store, aggregator } = world();
    const corruptOut = new Set([1, 3]);
    const corruptIn = new Set([2]);
    let out = 0;
    let acksIn = 0;
    const connector: Connector = {
      connect(request) {
        const transport = network.connect(request);
        const sendText = transport.sendText.bind(transport);
        transport.sendText = (text) =>
          sendText(text.startsWith('{"type":"records"') && corruptOut.has(++out) ? alterValue(text) : text);
        const receive = transport.receive.bind(transport);
        transport.receive = (text) =>
          receive(text.startsWith('{"type":"ack"') && corruptIn.has(++acksIn) ? alterAck(text) : text);
        return transport;
      },
    };
    const alterAck = (text: string) =>
      text.replace(/"seq":(\d)/, (_, d: string) => `"seq":${(Number(d) + 1) % 10}`);
    const engine = new ResilientDispatcher({
      engineId: 'e1',
      connector,
      clock,
      random: () => 0,
      retry: { initialMs: 10, maxMs: 10 },
      outbox: { batchRecords: 10 },
    });
    cleanups.push(() => engine.close());
    const errors: string[] = [];
    engine.on('error', (e) => errors.push(e.message));
    await until('connected', () => engine.state === 'connected', clock);
    for (let i = 0; i < 25; i++) engine.send({ kind: 'sample', tag: 'T', value: 1000 + i, t: i });
    await until('drained', () => engine.stats.acked === 25, clock);
    // The last frame alone, corrupted: no frame after it to reveal the loss; it is sent again anyway.
    corruptOut.add(out + 1);
    for (let i = 25; i < 30; i++) engine.send({ kind: 'sample', tag: 'T', value: 1000 + i, t: i });
    await until('drained again', () => engine.stats.acked === 30, clock);

    expect(store.records('e1').map((r) => [r.seq, r.value])).toEqual(
      Array.from({ length: 30 }, (_, i) => [i + 1, 1000 + i]),
    );
    expect(aggregator.engine('e1')).toMatchObject({ persistedSeq: 30, persistedCount: 30 });
    // Answered: the first frame, and the lone last one (a frame sent behind a refused one may never be read:
    // the aggregator closes the link on the sequence gap it leaves, and the engine sends it again anyway).
    expect(
      errors.filter((m) => m.startsWith('bad-checksum: aggregator: frame checksum mismatch')).length,
    ).toBeGreaterThanOrEqual(2);
    expect(errors.filter((m) => m.startsWith('bad-checksum: frame checksum mismatch'))).toHaveLength(1);
    expect(engine.stats).toMatchObject({ acked: 30, backlog: 0, dropped: 0 });
  });
});
