// Drain throughput: <records> samples buffered while the aggregator cannot be reached, in the memory
// outbox or the durable one, then drained into the aggregator's SQLite store (its own process, port
// given), measured from `flushing` to the last acknowledgement. The durable outbox is closed and opened
// again before the drain (an engine restart: the open time is the recovery scan), and heap and RSS are
// sampled every 50 ms while it drains. Prints one JSON line.
// Args: <port> <memory|durable> <records>
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DurableOutbox } from '../../src/engine/outbox/durable/durableOutbox.ts';
import type { Outbox } from '../../src/engine/outbox/outbox.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import type { Connector } from '../../src/transport/sides.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { benchSample, nextTick } from '../support.ts';

const [port, kind = 'durable', countArg] = process.argv.slice(2);
const records = Number(countArg ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'engine-link-bench-drain-'));
const path = join(dir, 'engine.outbox');
const engineId = `drain-${kind}-${process.pid}`;
const limits = { maxRecords: records * 2, maxBytes: 2 ** 40 };
const refused = new MemoryNetwork();
refused.refuseConnects();
const ws = new WebSocketConnector(`ws://127.0.0.1:${port}`);
let reachable = false;
const connector: Connector = { connect: (request) => (reachable ? ws : refused).connect(request) };
const samples = Array.from({ length: 1000 }, (_, i) => benchSample(i));

function dispatcherWith(outbox: Outbox | typeof limits): ResilientDispatcher {
  return new ResilientDispatcher({
    engineId,
    connector,
    outbox,
    retry: { initialMs: 600_000, maxMs: 600_000 },
  });
}

// Build the backlog while offline.
let outbox: Outbox | typeof limits = kind === 'durable' ? new DurableOutbox({ path, ...limits }) : limits;
let dispatcher = dispatcherWith(outbox);
for (let sent = 0; sent < records; ) {
  const slice = Math.min(10_000, records - sent);
  for (let i = 0; i < slice; i++) dispatcher.send(samples[(sent + i) % 1000]!);
  sent += slice;
  await nextTick();
}
let openMs = 0;
if (kind === 'durable') {
  // An engine restart: close, open again (recovery reads every segment), then drain.
  await dispatcher.close();
  const opening = performance.now();
  outbox = new DurableOutbox({ path, ...limits });
  openMs = performance.now() - opening;
  if (outbox.lastSeq !== records) throw new Error(`recovered ${outbox.lastSeq} of ${records}`);
}
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const before = process.memoryUsage();
let peakHeap = before.heapUsed;
let peakRss = before.rss;
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  peakHeap = Math.max(peakHeap, m.heapUsed);
  peakRss = Math.max(peakRss, m.rss);
}, 50);
let started = 0;
reachable = true;
// The memory outbox lives in its dispatcher, which reconnects; the durable one gets a new dispatcher.
if (kind === 'durable') dispatcher = dispatcherWith(outbox);
else dispatcher.reconnect();
dispatcher.on('state', (state) => {
  if (state === 'flushing' && !started) started = performance.now();
});
const drained = await dispatcher.drain(3_600_000);
const elapsed = performance.now() - started;
clearInterval(sampler);
const acked = dispatcher.stats.acked;
await dispatcher.close();
rmSync(dir, { recursive: true, force: true });
if (!drained || acked !== records) throw new Error(`only ${acked} of ${records} acknowledged`);
const mb = (bytes: number) => bytes / 1024 / 1024;
process.stdout.write(
  `${JSON.stringify({
    kind,
    records,
    perSecond: (records / elapsed) * 1000,
    openMs,
    heapBeforeMB: mb(before.heapUsed),
    peakHeapMB: mb(peakHeap),
    peakRssMB: mb(peakRss),
  })}\n`,
);
process.exit(0);
