// Live throughput: records/s from send() to persisted-and-acknowledged, over real ws to an aggregator in
// another process; and the raw `ws` baseline (batches of 100, parsed, not stored). Prints one JSON line.
import WebSocket from 'ws';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { benchSample } from '../support.ts';

const [mode, port, countArg] = process.argv.slice(2);
const records = Number(countArg ?? 500_000);
const samples = Array.from({ length: 1000 }, (_, i) => benchSample(i));

async function engineLink(): Promise<number> {
  const dispatcher = new ResilientDispatcher({
    engineId: `bench-${process.pid}`,
    connector: new WebSocketConnector(`ws://127.0.0.1:${port}`),
    outbox: { maxRecords: records * 2, maxBytes: 2 ** 31 },
  });
  await new Promise<void>((resolve) => dispatcher.on('state', (s) => s === 'connected' && resolve()));
  const started = performance.now();
  // Produce in slices so the link works while the engine produces, as in a real engine.
  for (let sent = 0; sent < records; ) {
    const slice = Math.min(5000, records - sent);
    for (let i = 0; i < slice; i++) dispatcher.send(samples[(sent + i) % 1000]!);
    sent += slice;
    await new Promise((resolve) => setImmediate(resolve));
  }
  await dispatcher.drain(120_000);
  const elapsed = performance.now() - started;
  if (dispatcher.stats.acked !== records) throw new Error(`only ${dispatcher.stats.acked} acknowledged`);
  await dispatcher.close();
  return (records / elapsed) * 1000;
}

async function rawWs(): Promise<number> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  await new Promise((resolve) => socket.once('open', resolve));
  const started = performance.now();
  const done = new Promise<void>((resolve) =>
    socket.on('message', (data) => {
      if (Number(data.toString()) >= records) resolve();
    }),
  );
  for (let sent = 0; sent < records; ) {
    const slice = Math.min(5000, records - sent);
    for (let b = 0; b < slice; b += 100) {
      const batch = [];
      for (let i = 0; i < 100; i++) batch.push({ ...samples[(sent + b + i) % 1000]!, t: Date.now() });
      socket.send(JSON.stringify(batch));
    }
    sent += slice;
    await new Promise((resolve) => setImmediate(resolve));
  }
  await done;
  const elapsed = performance.now() - started;
  socket.close();
  return (records / elapsed) * 1000;
}

const perSecond = mode === 'raw' ? await rawWs() : await engineLink();
process.stdout.write(`${JSON.stringify({ mode, records, perSecond })}\n`);
process.exit(0);
