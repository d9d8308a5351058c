// Catch-up: a backlog buffered while the link was down, drained into the aggregator's SQLite store in
// another process. Measured from `flushing` to the last acknowledgement. Prints one JSON line.
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { benchSample } from '../support.ts';

const [port, countArg] = process.argv.slice(2);
const records = Number(countArg ?? 1_000_000);
const samples = Array.from({ length: 1000 }, (_, i) => benchSample(i));
const dispatcher = new ResilientDispatcher({
  engineId: `catchup-${process.pid}`,
  connector: new WebSocketConnector(`ws://127.0.0.1:${port}`),
  outbox: { maxRecords: records * 2, maxBytes: 2 ** 31 },
});
// The whole backlog is accepted before the first connection attempt gets anywhere.
for (let i = 0; i < records; i++) dispatcher.send(samples[i % 1000]!);
let started = 0;
dispatcher.on('state', (state) => {
  if (state === 'flushing') started = performance.now();
});
const drained = await dispatcher.drain(300_000);
const elapsed = performance.now() - started;
if (!drained || dispatcher.stats.acked !== records)
  throw new Error(`only ${dispatcher.stats.acked} acknowledged`);
await dispatcher.close();
process.stdout.write(`${JSON.stringify({ records, perSecond: (records / elapsed) * 1000 })}\n`);
process.exit(0);
