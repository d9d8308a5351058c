import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { type AggregatorServer, startAggregatorServer } from '../../src/aggregator/server.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { type EngineLinkState, ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { FaultProxy } from '../../src/transport/faultProxy.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { seededRandom } from '../support/seededRandom.ts';
import { tempDbPath } from '../support/tempDb.ts';
import { nextEvent } from '../support/until.ts';

/**
 * The fault proxy's modes on loopback, first on a bare TCP echo (what each mode does to bytes and
 * connections), then under the real link: stall, trickle, clean close and reset, random byte corruption.
 * Every wait is for an event or a byte count, never a fixed sleep.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function echoServer(): Promise<number> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

async function proxied(port: number, random?: () => number) {
  const proxy = new FaultProxy({ host: '127.0.0.1', port }, random ? { random } : {});
  const address = await proxy.start();
  cleanups.push(() => proxy.close());
  const client = net.connect(address.port, '127.0.0.1');
  client.on('error', () => {});
  await new Promise((resolve) => client.once('connect', resolve));
  cleanups.push(() => void client.destroy());
  const received: Buffer[] = [];
  client.on('data', (chunk: Buffer) => received.push(chunk));
  const bytes = () => Buffer.concat(received);
  const waitBytes = async (n: number) => {
    while (bytes().length < n) await new Promise((resolve) => client.once('data', resolve));
  };
  return { proxy, client, bytes, waitBytes };
}

describe('FaultProxy modes (bare TCP)', () => {
  it('stall holds every byte and delivers it, in order, on restore', async () => {
    const { proxy, client, bytes, waitBytes } = await proxied(await echoServer());
    client.write('before;');
    await waitBytes(7);
    proxy.stall();
    client.write('during;');
    // The stalled bytes reach nobody; the echo of a second connection proves the event loop turned.
    const probe = await proxied(await echoServer());
    probe.client.write('x');
    await probe.waitBytes(1);
    expect(bytes().toString()).toBe('before;');
    proxy.restore();
    client.write('after');
    await waitBytes(19);
    expect(bytes().toString()).toBe('before;during;after');
  });

  it('blackhole carries nothing, not even a close: the other side stays half-open', async () => {
    const accepted: net.Socket[] = [];
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      accepted.push(socket);
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { proxy, client, bytes, waitBytes } = await proxied((server.address() as net.AddressInfo).port);
    let clientClosed = false;
    client.on('close', () => {
      clientClosed = true;
    });
    client.write('before;');
    await waitBytes(7);
    proxy.blackhole();
    client.write('lost;');
    // The far side goes away; the proxy sees its close (the pair is forgotten), the client must not.
    for (const socket of accepted) socket.destroy();
    while (proxy.connections > 0) await new Promise((resolve) => setImmediate(resolve));
    const probe = await proxied(await echoServer());
    probe.client.write('x');
    await probe.waitBytes(1);
    expect(clientClosed).toBe(false);
    expect(bytes().toString()).toBe('before;');
  });

  it('trickle caps the rate, each way', async () => {
    const { proxy, client, bytes, waitBytes } = await proxied(await echoServer());
    proxy.trickle(20_000);
    const payload = Buffer.alloc(20_000, 'a');
    const start = Date.now();
    client.write(payload);
    await waitBytes(payload.length);
    // 20 kB at 20 kB/s each way: at least ~1 s (a second of budget never exceeds the rate).
    expect(Date.now() - start).toBeGreaterThanOrEqual(800);
    expect(bytes().equals(payload)).toBe(true);
  });

  it('closeConnections ends both sides cleanly (FIN); reset() resets them (RST)', async () => {
    const port = await echoServer();
    const a = await proxied(port);
    const ended = new Promise((resolve) => a.client.once('end', resolve));
    a.proxy.closeConnections();
    await ended;
    expect(a.proxy.stats.closed).toBe(1);
    const b = await proxied(port);
    const error = new Promise<NodeJS.ErrnoException>((resolve) => b.client.once('error', resolve));
    b.proxy.reset();
    expect((await error).code).toBe('ECONNRESET');
    expect(b.proxy.stats.reset).toBe(1);
  });

  it('corrupts bytes at the rate asked, repeatably for a seed, and never changes their number', async () => {
    const port = await echoServer();
    const payload = Buffer.alloc(200_000, 0x61);
    const runs: Buffer[] = [];
    for (let i = 0; i < 2; i++) {
      const { proxy, client, bytes, waitBytes } = await proxied(port, seededRandom(42));
      proxy.corrupt(0.001, 'upstream');
      client.write(payload);
      await waitBytes(payload.length);
      const changed = [...bytes()].filter((b) => b !== 0x61).length;
      expect(changed).toBe(proxy.stats.corruptedBytes);
      expect(changed).toBeGreaterThan(100);
      expect(changed).toBeLessThan(300);
      runs.push(bytes());
    }
    expect(runs[0]!.equals(runs[1]!)).toBe(true);
  });
});

describe('the link through the proxy modes', () => {
  async function rig() {
    const store = new SqliteStore(tempDbPath());
    const aggregator = new Aggregator({ store, heartbeatMs: 100, heartbeatTimeoutMs: 400 });
    const server: AggregatorServer = await startAggregatorServer({ aggregator, port: 0 });
    const proxy = new FaultProxy({ host: '127.0.0.1', port: server.port }, { random: seededRandom(7) });
    const { port } = await proxy.start();
    const engine = new ResilientDispatcher({
      engineId: 'modes-1',
      connector: new WebSocketConnector(`ws://127.0.0.1:${port}`, { handshakeTimeoutMs: 1000 }),
      heartbeatTimeoutMs: 400,
      connectTimeoutMs: 1000,
      retry: { initialMs: 20, maxMs: 200 },
      outbox: { batchRecords: 100 },
    });
    cleanups.push(async () => {
      await engine.close();
      await proxy.close();
      await server.close();
      await aggregator.close();
    });
    return { store, proxy, engine };
  }
  const reach = (engine: ResilientDispatcher, state: EngineLinkState) =>
    engine.state === state
      ? Promise.resolve()
      : nextEvent<EngineLinkState>(engine, 'state', (s) => s === state);
  let n = 0;
  function produce(engine: ResilientDispatcher, count: number) {
    for (let i = 0; i < count; i++) {
      engine.send({ kind: 'sample', tag: 'p', value: n++, t: 1_700_000_000_000 + n });
    }
  }
  function expectExactlyOnce(store: SqliteStore, engine: ResilientDispatcher, count: number) {
    const rows = store.records('modes-1', { epoch: engine.stats.epoch });
    expect(rows.length).toBe(count);
    expect(rows.findIndex((row, i) => row.seq !== i + 1)).toBe(-1);
    expect(engine.stats).toMatchObject({ acked: count, backlog: 0, dropped: 0 });
    return rows;
  }

  it('a stall longer than the heartbeat timeout: both sides give up, the engine reconnects, nothing lost', async () => {
    const { store, proxy, engine } = await rig();
    await reach(engine, 'connected');
    produce(engine, 2000);
    proxy.stall();
    produce(engine, 2000);
    await reach(engine, 'buffering.waiting');
    proxy.restore();
    produce(engine, 1000);
    expect(await engine.drain(15_000)).toBe(true);
    expectExactlyOnce(store, engine, 5000);
  });

  it('a trickling link (8 kB/s): the backlog flows through slowly and in order', async () => {
    const { store, proxy, engine } = await rig();
    await reach(engine, 'connected');
    proxy.trickle(8_000);
    produce(engine, 1500);
    await nextEvent(engine, 'backlog', () => engine.stats.acked > 0);
    proxy.restore();
    expect(await engine.drain(15_000)).toBe(true);
    expectExactlyOnce(store, engine, 1500);
  });

  it('clean closes and resets mid-stream', async () => {
    const { store, proxy, engine } = await rig();
    await reach(engine, 'connected');
    for (let i = 0; i < 4; i++) {
      produce(engine, 1000);
      if (i % 2 === 0) proxy.closeConnections();
      else proxy.reset();
      await reach(engine, 'connected');
    }
    expect(await engine.drain(15_000)).toBe(true);
    expectExactlyOnce(store, engine, 4000);
  });

  it('random byte corruption: the link survives, every record is stored once, in order, no gap, with the value sent', async () => {
    const { store, proxy, engine } = await rig();
    await reach(engine, 'connected');
    const errors: string[] = [];
    engine.on('error', (error) => errors.push(error.message));
    // About one byte in 20,000 each way: a few corrupted frames per second. A frame whose corruption
    // breaks its WebSocket framing or its UTF-8 ends the connection; any other is refused by its checksum
    // (every frame carries the CRC-32 of its text, checked before anything of it is read): a records frame
    // is answered bad-checksum and sent again, an aggregator frame (an ack, a welcome) is not believed and
    // the engine reconnects, the welcome telling what really is persisted. So no corrupted byte reaches
    // the store: every value stored is the value sent (without the checksum about one record in 5,000
    // was stored altered, under the wrong sequence number, or lost to an ack whose number grew).
    proxy.corrupt(1 / 20_000);
    const first = n;
    for (let i = 0; i < 10; i++) {
      produce(engine, 500);
      await nextEvent(engine, 'backlog');
    }
    proxy.restore();
    expect(await engine.drain(20_000)).toBe(true);
    expect(proxy.stats.corruptedBytes).toBeGreaterThan(0);
    const rows = expectExactlyOnce(store, engine, 5000);
    expect(store.gaps('modes-1')).toEqual([]);
    // produce() sends value k with t = 1_700_000_000_000 + k + 1, in sequence order.
    const altered = rows.filter(
      (row, i) =>
        row.kind !== 'sample' ||
        row.key !== 'p' ||
        row.value !== first + i ||
        row.t !== 1_700_000_000_000 + first + i + 1 ||
        row.unit !== undefined,
    );
    expect(altered).toEqual([]);
    // Corruption that left the WebSocket frame readable was caught by the checksum, never by a schema.
    expect(errors.filter((m) => /invalid-message|malformed-frame|unknown-type/.test(m))).toEqual([]);
  });
});
