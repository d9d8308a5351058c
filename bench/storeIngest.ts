/**
 * Store ingest throughput: 1,000,000 sample items in frames of 1000, through
 *   - a raw insert loop on the same schema (one prepared single-row INSERT, one transaction per frame),
 *   - SqliteStore.ingest (file in WAL mode, and in memory),
 *   - decode + ingest: the frame's JSON text through the protocol codec, then SqliteStore.ingest,
 *   - the whole aggregator side: an Aggregator over a MemoryNetwork, frames pipelined 8 deep, each
 *     decoded, validated, persisted and acknowledged.
 *
 * Run: npx tsx bench/storeIngest.ts [records] [frameSize]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Aggregator } from '../src/aggregator/aggregator.ts';
import { SqliteStore } from '../src/aggregator/sqliteStore.ts';
import { decodeEngineMessage, encodeRecordsFrame } from '../src/protocol/codec.ts';
import type { RecordsFrame } from '../src/protocol/messages.ts';
import type { Item } from '../src/protocol/records.ts';
import { MemoryNetwork } from '../src/transport/memoryTransport.ts';

const TOTAL = Number(process.argv[2] ?? 1_000_000);
const FRAME = Number(process.argv[3] ?? 1000);
const FRAMES = Math.ceil(TOTAL / FRAME);
const T0 = 1_767_225_600_000;

/** A few distinct frames of realistic samples (items carry no sequence number, so frames can repeat). */
const frames: Item[][] = Array.from({ length: 16 }, (_, f) =>
  Array.from({ length: FRAME }, (_, i): Item => {
    const n = f * FRAME + i;
    return [
      's',
      `reactor.${['temperature', 'pressure', 'stirrer', 'ph'][n % 4]}`,
      T0 + n,
      20 + (n % 1000) / 7,
      'u',
    ];
  }),
);
/** The same frames' items as JSON text, as an engine's outbox holds them. */
const encodedFrames = frames.map((items) => items.map((item) => JSON.stringify(item)).join(','));

const dir = mkdtempSync(join(tmpdir(), 'engine-link-bench-'));
let fileNo = 0;
const freshFile = () => join(dir, `bench-${fileNo++}.db`);

interface Row {
  name: string;
  seconds: number;
}
const rows: Row[] = [];

function time(name: string, run: () => void): void {
  const start = performance.now();
  run();
  rows.push({ name, seconds: (performance.now() - start) / 1000 });
}

async function timeAsync(name: string, run: () => Promise<void>): Promise<void> {
  const start = performance.now();
  await run();
  rows.push({ name, seconds: (performance.now() - start) / 1000 });
}

// Warm-up: the first path measured must not pay for JIT compilation and a cold page cache alone.
{
  const store = new SqliteStore(freshFile());
  for (let f = 0; f < 100; f++) {
    const frame = decodeEngineMessage(
      encodeRecordsFrame(f * FRAME + 1, encodedFrames[f % 16]!),
    ) as RecordsFrame;
    store.ingest('warm', 'ep', frame.from, frame.items);
  }
  store.close();
}

// 1. Raw insert loop on the same schema.
{
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
  time('raw insert loop (file, WAL)', () => {
    for (let f = 0; f < FRAMES; f++) frame(f * FRAME + 1, frames[f % frames.length]!);
  });
  db.close();
}

// 2. SqliteStore.ingest.
for (const [name, path] of [
  ['SqliteStore.ingest (file, WAL)', freshFile()],
  ['SqliteStore.ingest (:memory:)', ':memory:'],
] as const) {
  const store = new SqliteStore(path);
  time(name, () => {
    for (let f = 0; f < FRAMES; f++) store.ingest('bench', 'ep', f * FRAME + 1, frames[f % frames.length]!);
  });
  if (store.highWaterMark('bench', 'ep') !== FRAMES * FRAME) throw new Error(`${name}: wrong mark`);
  store.close();
}

// 3. Decode (JSON.parse, envelope schema, item validation) + ingest.
{
  const store = new SqliteStore(freshFile());
  time('decode + SqliteStore.ingest (file, WAL)', () => {
    for (let f = 0; f < FRAMES; f++) {
      const text = encodeRecordsFrame(f * FRAME + 1, encodedFrames[f % encodedFrames.length]!);
      const frame = decodeEngineMessage(text) as RecordsFrame;
      store.ingest('bench', 'ep', frame.from, frame.items);
    }
  });
  if (store.highWaterMark('bench', 'ep') !== FRAMES * FRAME) throw new Error('decode + ingest: wrong mark');
  store.close();
}

// 4. The aggregator side, end to end over the in-memory network.
{
  const store = new SqliteStore(freshFile());
  const aggregator = new Aggregator({ store, heartbeatTimeoutMs: 600_000 });
  const network = new MemoryNetwork({ maxFrameBytes: 4 * 1024 * 1024 });
  network.listen(aggregator);
  const engine = network.connect({ engineId: 'bench' });
  await new Promise<void>((resolve) => engine.once('open', () => resolve()));
  await timeAsync('Aggregator over MemoryNetwork (8 frames in flight)', async () => {
    await new Promise<void>((resolve, reject) => {
      let next = 0;
      const sendNext = () => {
        engine.sendText(encodeRecordsFrame(next * FRAME + 1, encodedFrames[next % encodedFrames.length]!));
        next++;
      };
      engine.on('message', (message) => {
        if (message.type === 'welcome') for (let i = 0; i < 8 && next < FRAMES; i++) sendNext();
        else if (message.type === 'ack') {
          if (message.seq === FRAMES * FRAME) resolve();
          else if (next < FRAMES) sendNext();
        } else if (message.type === 'error') reject(new Error(message.message));
      });
      engine.sendText(
        JSON.stringify({ type: 'hello', v: 1, engineId: 'bench', epoch: 'ep', lastSeq: TOTAL }),
      );
    });
  });
  if (aggregator.engine('bench')?.link !== 'available') throw new Error('aggregator: not caught up');
  engine.close();
  await aggregator.close();
}

rmSync(dir, { recursive: true, force: true });

const raw = rows[0]!.seconds;
const name = Math.max(...rows.map((r) => r.name.length));
console.log(
  `\nstore ingest: ${(FRAMES * FRAME).toLocaleString('en')} sample items in frames of ${FRAME}, ` +
    `node ${process.version}, ${availableParallelism()} cores\n`,
);
console.log(`${'path'.padEnd(name)}  ${'seconds'.padStart(8)}  ${'records/s'.padStart(11)}  vs raw`);
console.log(`${'-'.repeat(name)}  ${'-'.repeat(8)}  ${'-'.repeat(11)}  ------`);
for (const row of rows)
  console.log(
    `${row.name.padEnd(name)}  ${row.seconds.toFixed(2).padStart(8)}  ${Math.round(
      (FRAMES * FRAME) / row.seconds,
    )
      .toLocaleString('en')
      .padStart(11)}  ${(raw / row.seconds).toFixed(2)}x`,
  );
