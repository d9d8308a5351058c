/**
 * Store ingest throughput: 1,000,000 sample items in frames of 1000, through
 *   - a raw insert loop on the same schema (one prepared single-row INSERT, one transaction per frame),
 *   - SqliteStore.ingest (file in WAL mode, and in memory),
 *   - decode + ingest: each frame's JSON text through the protocol codec, then SqliteStore.ingest,
 *   - the whole aggregator side: an Aggregator over a MemoryNetwork, frames pipelined 8 deep, each
 *     decoded, validated, persisted (one transaction) and acknowledged.
 * Paths run round-robin for several rounds, each into a fresh database, so that a busy machine slows all
 * of them alike; the table shows the median and the best round.
 *
 * Run: npx tsx bench/storeIngest.ts [records=1000000] [frameSize=1000] [rounds=3]
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Aggregator } from '../src/aggregator/aggregator.ts';
import { SqliteStore } from '../src/aggregator/store/sqliteStore.ts';
import { decodeEngineMessage, encodeRecordsFrame } from '../src/protocol/codec.ts';
import type { RecordsFrame } from '../src/protocol/messages.ts';
import type { Item } from '../src/protocol/records.ts';
import { MemoryNetwork } from '../src/transport/memoryTransport.ts';

const TOTAL = Number(process.argv[2] ?? 1_000_000);
const FRAME = Number(process.argv[3] ?? 1000);
const ROUNDS = Number(process.argv[4] ?? 3);
const FRAMES = Math.ceil(TOTAL / FRAME);
const RECORDS = FRAMES * FRAME;
const T0 = 1_767_225_600_000;
const TAGS = ['temperature', 'pressure', 'stirrer', 'ph'];

/** A few distinct frames of samples (items carry no sequence number, so frames can be sent again). */
const frames: Item[][] = Array.from({ length: 16 }, (_, f) =>
  Array.from({ length: FRAME }, (_, i): Item => {
    const n = f * FRAME + i;
    return ['s', `reactor.${TAGS[n % 4]}`, T0 + n, 20 + (n % 1000) / 7, 'degC'];
  }),
);
/** The same items as JSON text, as an engine's outbox holds them. */
const encodedFrames = frames.map((items) => items.map((item) => JSON.stringify(item)).join(','));

const dir = mkdtempSync(join(tmpdir(), 'engine-link-bench-'));
let fileNo = 0;
const freshFile = () => join(dir, `bench-${fileNo++}.db`);

function expectMark(store: SqliteStore, name: string): void {
  const mark = store.highWaterMark('bench', 'ep');
  if (mark !== RECORDS) throw new Error(`${name}: high-water mark ${mark}, expected ${RECORDS}`);
}

interface Path {
  name: string;
  /** Returns the seconds the timed part took. */
  run: () => Promise<number>;
}

async function timed(work: () => void | Promise<void>): Promise<number> {
  const start = performance.now();
  await work();
  return (performance.now() - start) / 1000;
}

const rawInsertLoop: Path = {
  name: 'raw insert loop (file, WAL)',
  run: async () => {
    const path = freshFile();
    new SqliteStore(path).close(); // creates the schema
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const insert = db.prepare(
      'INSERT INTO records (stream, seq, kind, key, t, value, unit) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    const frame = db.transaction((from: number, items: Item[]) => {
      for (let i = 0; i < items.length; i++) {
        const item = items[i] as ['s', string, number, number, string];
        insert.run(1, from + i, 0, item[1], item[2], item[3], item[4]);
      }
    });
    const seconds = await timed(() => {
      for (let f = 0; f < FRAMES; f++) frame(f * FRAME + 1, frames[f % frames.length]!);
    });
    db.close();
    return seconds;
  },
};

const storeIngest = (name: string, path: () => string): Path => ({
  name,
  run: async () => {
    const store = new SqliteStore(path());
    const seconds = await timed(() => {
      for (let f = 0; f < FRAMES; f++) store.ingest('bench', 'ep', f * FRAME + 1, frames[f % frames.length]!);
    });
    expectMark(store, name);
    store.close();
    return seconds;
  },
});

const decodeAndIngest: Path = {
  name: 'decode + SqliteStore.ingest (file, WAL)',
  run: async () => {
    const store = new SqliteStore(freshFile());
    const seconds = await timed(() => {
      for (let f = 0; f < FRAMES; f++) {
        const text = encodeRecordsFrame(f * FRAME + 1, encodedFrames[f % encodedFrames.length]!);
        const frame = decodeEngineMessage(text) as RecordsFrame;
        store.ingest('bench', 'ep', frame.from, frame.items);
      }
    });
    expectMark(store, 'decode + ingest');
    store.close();
    return seconds;
  },
};

const aggregatorOverMemory: Path = {
  name: 'Aggregator over MemoryNetwork (file, 8 in flight)',
  run: async () => {
    const store = new SqliteStore(freshFile());
    const aggregator = new Aggregator({ store, heartbeatTimeoutMs: 600_000 });
    const network = new MemoryNetwork({ maxFrameBytes: 4 * 1024 * 1024 });
    network.listen(aggregator);
    const engine = network.connect({ engineId: 'bench' });
    await new Promise<void>((resolve) => engine.once('open', () => resolve()));
    const seconds = await timed(
      () =>
        new Promise<void>((resolve, reject) => {
          let next = 0;
          const sendNext = () => {
            engine.sendText(
              encodeRecordsFrame(next * FRAME + 1, encodedFrames[next % encodedFrames.length]!),
            );
            next++;
          };
          engine.on('message', (message) => {
            if (message.type === 'welcome') for (let i = 0; i < 8 && next < FRAMES; i++) sendNext();
            else if (message.type === 'ack') {
              if (message.seq === RECORDS) resolve();
              else if (next < FRAMES) sendNext();
            } else if (message.type === 'error') reject(new Error(message.message));
          });
          engine.send({ type: 'hello', v: 1, engineId: 'bench', epoch: 'ep', lastSeq: RECORDS });
        }),
    );
    if (aggregator.engine('bench')?.link !== 'available') throw new Error('aggregator: not caught up');
    engine.close();
    await aggregator.close();
    return seconds;
  },
};

const paths: Path[] = [
  rawInsertLoop,
  storeIngest('SqliteStore.ingest (file, WAL)', freshFile),
  storeIngest('SqliteStore.ingest (:memory:)', () => ':memory:'),
  decodeAndIngest,
  aggregatorOverMemory,
];

// Warm-up: JIT and page cache, so that the first path measured is not the only one to pay for them.
{
  const store = new SqliteStore(freshFile());
  for (let f = 0; f < 200; f++) {
    const text = encodeRecordsFrame(f * FRAME + 1, encodedFrames[f % encodedFrames.length]!);
    const frame = decodeEngineMessage(text) as RecordsFrame;
    store.ingest('warm', 'ep', frame.from, frame.items);
  }
  store.close();
}

const load = loadavg()[0]!;
const results = new Map<Path, number[]>(paths.map((path) => [path, []]));
for (let round = 0; round < ROUNDS; round++)
  for (const path of paths) {
    results.get(path)!.push(await path.run());
    // Each database is used once: delete it before the next path runs.
    for (const file of readdirSync(dir)) rmSync(join(dir, file), { force: true });
  }
rmSync(dir, { recursive: true, force: true });

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const rate = (seconds: number) => Math.round(RECORDS / seconds).toLocaleString('en');
const rawMedian = median(results.get(rawInsertLoop)!);
const width = Math.max(...paths.map((p) => p.name.length));

console.log(
  `\nstore ingest: ${RECORDS.toLocaleString('en')} sample items in frames of ${FRAME}, ${ROUNDS} rounds, ` +
    `node ${process.version}, ${availableParallelism()} cores, load average ${load.toFixed(2)} at start\n`,
);
console.log(
  `${'path'.padEnd(width)}  ${'median s'.padStart(8)}  ${'records/s (median)'.padStart(18)}  ` +
    `${'records/s (best)'.padStart(16)}  vs raw`,
);
console.log(`${'-'.repeat(width)}  ${'-'.repeat(8)}  ${'-'.repeat(18)}  ${'-'.repeat(16)}  ------`);
for (const path of paths) {
  const seconds = results.get(path)!;
  const mid = median(seconds);
  console.log(
    `${path.name.padEnd(width)}  ${mid.toFixed(2).padStart(8)}  ${rate(mid).padStart(18)}  ` +
      `${rate(Math.min(...seconds)).padStart(16)}  ${(rawMedian / mid).toFixed(2)}x`,
  );
}
