import { createServer, type Server, ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventStreamHub } from '../../src/aggregator/http/eventStreamHub.ts';
import { EventStreamSlots } from '../../src/aggregator/http/eventStreamSlots.ts';
import { type HeldStream, openEventStream } from '../support/eventStreamClient.ts';

/** The hub's promises, over real sockets in this process: one encoding per update, coalescing, slow clients cut off. */
let server: Server | undefined;
const held: HeldStream[] = [];
afterEach(async () => {
  for (const stream of held.splice(0)) stream.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function serve(hub: EventStreamHub, slots = new EventStreamSlots()): Promise<string> {
  server = createServer((request, response) => hub.open(request, response, slots));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

async function subscribers(url: string, n: number, keep: string[] = []): Promise<HeldStream[]> {
  const streams = await Promise.all(Array.from({ length: n }, () => openEventStream(url, { keep })));
  held.push(...streams);
  await Promise.all(streams.map((s) => s.until('its snapshot', (x) => x.counts.get('snapshot') === 1)));
  return streams;
}

describe('EventStreamHub', () => {
  it('encodes each update once however many streams, and gives every stream every update in order', async () => {
    const hub = new EventStreamHub({ snapshot: () => ({ event: 'snapshot', data: {} }), streamsPerTurn: 3 });
    const streams = await subscribers(await serve(hub), 10, ['tick']);
    const stringify = vi.spyOn(JSON, 'stringify');
    for (let i = 0; i < 5; i++) hub.broadcast('tick', { i });
    const encodings = stringify.mock.calls.length;
    stringify.mockRestore();
    expect(encodings).toBe(5);
    await Promise.all(streams.map((s) => s.until('5 ticks', (x) => x.counts.get('tick') === 5)));
    for (const s of streams) expect(s.data.get('tick')).toEqual([0, 1, 2, 3, 4].map((i) => `{"i":${i}}`));
  });

  it('an update with a key replaces the one of that key still waiting', async () => {
    const hub = new EventStreamHub({ snapshot: () => ({ event: 'snapshot', data: {} }) });
    const [stream] = await subscribers(await serve(hub), 1, ['progress', 'engine']);
    hub.broadcast('progress', { seq: 1 }, 'progress:a');
    hub.broadcast('engine', { link: 'catching-up' });
    hub.broadcast('progress', { seq: 2 }, 'progress:a');
    hub.broadcast('progress', { seq: 7 }, 'progress:b');
    hub.broadcast('engine', { link: 'available' });
    await stream!.until('the engine events', (s) => s.counts.get('engine') === 2);
    expect(stream!.data.get('progress')).toEqual(['{"seq":2}', '{"seq":7}']);
  });

  it('lets other work run between slices of a fan-out', async () => {
    const hub = new EventStreamHub({ snapshot: () => ({ event: 'snapshot', data: {} }), streamsPerTurn: 2 });
    const streams = await subscribers(await serve(hub), 8, ['tick']);
    let written = 0;
    const seen: number[] = [];
    const original = ServerResponse.prototype.write;
    ServerResponse.prototype.write = function (this: ServerResponse, ...args: unknown[]) {
      if (String(args[0]).startsWith('event: tick')) written++;
      return Reflect.apply(original, this, args) as boolean;
    } as typeof original;
    try {
      hub.broadcast('tick', { i: 1 });
      // Other work queued meanwhile (socket reads, timers) runs between slices of two streams.
      const watch = () => {
        seen.push(written);
        if (written < 8) setImmediate(watch);
      };
      setImmediate(watch);
      await Promise.all(streams.map((s) => s.until('the tick', (x) => x.counts.get('tick') === 1)));
    } finally {
      ServerResponse.prototype.write = original;
    }
    // Without slices the first look would find all 8 written.
    expect(seen).toEqual([2, 4, 6, 8]);
    expect(written).toBe(8);
  });

  it('disconnects a client that does not read instead of holding its backlog', async () => {
    const hub = new EventStreamHub({
      snapshot: () => ({ event: 'snapshot', data: {} }),
      maxBufferedBytes: 64 * 1024,
    });
    const url = new URL(await serve(hub));
    const [reader] = await subscribers(url.href, 1, []);
    // A client that stops reading: its socket is paused, so the kernel's buffers fill, then the server's.
    const stalled = connect(Number(url.port), '127.0.0.1');
    stalled.on('error', () => {});
    await new Promise<void>((resolve) => stalled.once('connect', () => resolve()));
    stalled.write(`GET / HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\n\r\n`);
    await new Promise<void>((resolve) => stalled.once('data', () => resolve()));
    stalled.pause();
    expect(hub.size).toBe(2);
    const big = 'x'.repeat(256 * 1024);
    let sent = 0;
    while (hub.size > 1 && sent < 400) {
      hub.broadcast('big', big);
      sent++;
      for (let turn = 0; turn < 4; turn++) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(hub.size).toBe(1);
    // The reader kept up and got everything.
    await reader!.until('every update', (s) => s.counts.get('big') === sent);
    stalled.destroy();
  });
});
