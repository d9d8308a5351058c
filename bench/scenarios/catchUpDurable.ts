// Catch-up from the durable outbox (src/engine/outbox/durable/): <records> samples appended while the
// aggregator cannot be reached, then drained into the aggregator's SQLite store (its own process, port
// given). Measured from `flushing` to the last acknowledgement; append rate reported too.
// Prints one JSON line; { available: false, reason } when the durable outbox cannot be used.
// Args: <port> <records>
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

const [port, countArg] = process.argv.slice(2);
const records = Number(countArg ?? 10_000_000);
const say = (result: Record<string, unknown>) => {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
};

const dir = mkdtempSync(join(tmpdir(), 'engine-link-bench-durable-'));
let outbox: Outbox;
try {
  outbox = new DurableOutbox({
    path: join(dir, 'engine.outbox'),
    sync: 'batch',
    maxRecords: records * 2,
    maxBytes: 2 ** 40,
  });
} catch (error) {
  rmSync(dir, { recursive: true, force: true });
  say({ available: false, reason: `could not open a durable outbox: ${(error as Error).message}` });
  throw error;
}

// Connections are refused until the backlog is built, then go to the aggregator.
const refused = new MemoryNetwork();
refused.refuseConnects();
const ws = new WebSocketConnector(`ws://127.0.0.1:${port}`);
let open = false;
const connector: Connector = { connect: (request) => (open ? ws : refused).connect(request) };
const dispatcher = new ResilientDispatcher({
  engineId: `durable-${process.pid}`,
  connector,
  outbox,
  retry: { initialMs: 60_000, maxMs: 60_000 },
});
const samples = Array.from({ length: 1000 }, (_, i) => benchSample(i));
const appendStarted = performance.now();
for (let sent = 0; sent < records; ) {
  const slice = Math.min(10_000, records - sent);
  for (let i = 0; i < slice; i++) dispatcher.send(samples[(sent + i) % 1000]!);
  sent += slice;
  await nextTick();
}
const appendSeconds = (performance.now() - appendStarted) / 1000;
let started = 0;
dispatcher.on('state', (state) => {
  if (state === 'flushing' && !started) started = performance.now();
});
open = true;
dispatcher.reconnect();
const drained = await dispatcher.drain(1_800_000);
const elapsed = performance.now() - started;
const acked = dispatcher.stats.acked;
await dispatcher.close();
rmSync(dir, { recursive: true, force: true });
if (!drained || acked !== records) throw new Error(`only ${acked} of ${records} acknowledged`);
say({
  available: true,
  records,
  perSecond: (records / elapsed) * 1000,
  appendPerSecond: records / appendSeconds,
});
