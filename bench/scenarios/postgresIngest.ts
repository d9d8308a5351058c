// PostgreSQL ingest of <records> samples into the database at <url>, frames of 1000, 8 frames to a commit
// (what a catching-up engine's send window puts in one group):
//   store:  PostgresStore.ingest in store.transaction (the aggregator's store, its batch written at commit)
//   insert: raw multi-row INSERT … SELECT unnest(…) through postgres.js (the driver the store uses)
//   copy:   raw COPY … FROM STDIN (text) through pg + pg-copy-streams (the fastest path measured)
// Prints one JSON line. Args: <url> <store|insert|copy> <records>
import { PostgresStore } from '../../src/aggregator/store/postgres/postgresStore.ts';
import type { Item } from '../../src/protocol/records.ts';
import { pgCopy, postgresUnnest, type RawShape, rawCount } from '../postgres/rawIngest.ts';

const [url, path, recordsArg] = process.argv.slice(2) as [string, string, string];
const records = Number(recordsArg ?? 1_000_000);
const shape: RawShape = { total: records, frame: 1000, framesPerCommit: 8 };
const T0 = 1_767_225_600_000;
const TAGS = ['reactor.temperature', 'reactor.pressure', 'reactor.stirrer', 'reactor.ph'];

/** A few distinct frames (items carry no sequence number, so a frame can be sent at any position). */
const frames: Item[][] = Array.from({ length: 16 }, (_, f) =>
  Array.from({ length: shape.frame }, (_, i): Item => {
    const n = f * shape.frame + i;
    return ['s', TAGS[n % 4]!, T0 + n, 20 + (n % 1000) / 7, 'degC'];
  }),
);

async function throughStore(): Promise<number> {
  const store = await PostgresStore.open(url);
  const started = performance.now();
  const frameCount = records / shape.frame;
  for (let f = 0; f < frameCount; f += shape.framesPerCommit)
    await store.transaction(async () => {
      for (let g = f; g < Math.min(f + shape.framesPerCommit, frameCount); g++)
        await store.ingest('bench', 'ep', g * shape.frame + 1, frames[g % frames.length]!);
    });
  const seconds = (performance.now() - started) / 1000;
  const mark = await store.highWaterMark('bench', 'ep');
  await store.close();
  if (mark !== records) throw new Error(`store: high-water mark ${mark}, expected ${records}`);
  return records / seconds;
}

async function raw(run: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await run();
  const seconds = (performance.now() - started) / 1000;
  const stored = await rawCount(url);
  if (stored !== records) throw new Error(`${path}: ${stored} rows, expected ${records}`);
  return records / seconds;
}

const perSecond =
  path === 'store'
    ? await throughStore()
    : path === 'insert'
      ? await raw(() => postgresUnnest(url, shape))
      : await raw(() => pgCopy(url, shape, 'text'));
process.stdout.write(`${JSON.stringify({ path, records, perSecond })}\n`);
