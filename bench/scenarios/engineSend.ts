// send() cost per record while buffering (no aggregator reachable), and heap bytes per buffered sample.
// Run with --expose-gc. Prints one JSON line.
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { benchSample } from '../support.ts';

const records = Number(process.argv[2] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const network = new MemoryNetwork();
network.refuseConnects();
const memory = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
};
const samples = Array.from({ length: 1000 }, (_, i) => benchSample(i));
const dispatcher = new ResilientDispatcher({
  engineId: 'bench',
  connector: network,
  outbox: { maxRecords: records * 2, maxBytes: 2 ** 31 },
  retry: { initialMs: 60_000, maxMs: 60_000 },
});
const before = memory();
const started = process.hrtime.bigint();
for (let i = 0; i < records; i++) dispatcher.send(samples[i % 1000]!);
const elapsedNs = Number(process.hrtime.bigint() - started);
const after = memory();
const sampleJson = JSON.stringify({ ...samples[1], t: Date.now() }).length;
process.stdout.write(
  `${JSON.stringify({
    records,
    sendNsPerRecord: elapsedNs / records,
    heapBytesPerRecord: (after - before) / records,
    backlog: dispatcher.stats.backlog,
    sampleJsonBytes: sampleJson,
  })}\n`,
);
process.exit(0);
