// Append throughput: send() while the aggregator cannot be reached, into the memory outbox or the durable
// outbox under each sync policy, in slices of 10,000 with a turn of the event loop between them (as an
// engine would), until every record is synced (durable). Prints one JSON line.
// Args: <memory|batch|always> <records>
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DurableOutbox } from '../../src/engine/outbox/durable/durableOutbox.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { benchSample, nextTick } from '../support.ts';

const [kind = 'batch', countArg] = process.argv.slice(2);
const records = Number(countArg ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'engine-link-bench-append-'));
const network = new MemoryNetwork();
network.refuseConnects();
const durable =
  kind === 'memory'
    ? undefined
    : new DurableOutbox({ path: join(dir, 'engine.outbox'), sync: kind === 'always' ? 'always' : 'batch' });
let syncs = 0;
durable?.on('synced', () => syncs++);
const dispatcher = new ResilientDispatcher({
  engineId: 'bench-append',
  connector: network,
  outbox: durable ?? { maxRecords: records * 2, maxBytes: 2 ** 31 },
  retry: { initialMs: 600_000, maxMs: 600_000 },
});
const samples = Array.from({ length: 1000 }, (_, i) => benchSample(i));
const started = performance.now();
for (let sent = 0; sent < records; ) {
  const slice = Math.min(10_000, records - sent);
  for (let i = 0; i < slice; i++) dispatcher.send(samples[(sent + i) % 1000]!);
  sent += slice;
  await nextTick();
}
durable?.syncNow();
const seconds = (performance.now() - started) / 1000;
const bytes = dispatcher.outbox.bytes;
await dispatcher.close();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(
  `${JSON.stringify({
    kind,
    records,
    perSecond: records / seconds,
    usPerRecord: (seconds * 1e6) / records,
    syncsPerSecond: syncs / seconds,
    bytesPerRecord: bytes / records,
  })}\n`,
);
process.exit(0);
