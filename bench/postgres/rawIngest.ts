/**
 * The raw PostgreSQL ingest limits on this machine, with no engine-link in the way: sample rows in the
 * records table's shape, inserted in statements of one frame each (multi-row `INSERT … SELECT unnest(…)`)
 * or streamed by COPY (text and binary), committed every `framesPerCommit` frames, through `pg` and through
 * `postgres` (postgres.js). The bench's catch-up section sets engine-link's PostgreSQL row against them,
 * and bench/postgresDrivers.ts compares the drivers with them.
 */
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import postgres from 'postgres';

export const RAW_TABLE = `
  DROP TABLE IF EXISTS raw_records;
  CREATE TABLE raw_records (
    stream integer NOT NULL, seq bigint NOT NULL, kind smallint NOT NULL, key text NOT NULL,
    t double precision NOT NULL, num double precision, value jsonb, unit text,
    PRIMARY KEY (stream, seq)
  );`;

export interface RawShape {
  total: number;
  frame: number;
  framesPerCommit: number;
}

const T0 = 1_767_225_600_000;
const TAGS = ['reactor.temperature', 'reactor.pressure', 'reactor.stirrer', 'reactor.ph'];

/** The columns of one frame of samples, from sequence number `from`. */
export function frameColumns(from: number, size: number) {
  const seq: number[] = new Array(size);
  const key: string[] = new Array(size);
  const t: number[] = new Array(size);
  const num: number[] = new Array(size);
  for (let i = 0; i < size; i++) {
    const n = from + i;
    seq[i] = n;
    key[i] = TAGS[n % 4]!;
    t[i] = T0 + n;
    num[i] = 20 + (n % 1000) / 7;
  }
  return { seq, key, t, num };
}

const UNNEST_SQL = `INSERT INTO raw_records (stream, seq, kind, key, t, num, unit)
  SELECT 1, seq, 0, key, t, num, 'degC' FROM unnest($1::int8[], $2::text[], $3::float8[], $4::float8[])
    AS r(seq, key, t, num)`;

async function commitsOf(shape: RawShape, insertFrame: (from: number) => Promise<unknown>, tx: Tx) {
  for (let f = 0; f < shape.total / shape.frame; f += shape.framesPerCommit) {
    await tx(async () => {
      const pending: Promise<unknown>[] = [];
      for (let g = f; g < Math.min(f + shape.framesPerCommit, shape.total / shape.frame); g++)
        pending.push(insertFrame(g * shape.frame + 1));
      await Promise.all(pending);
    });
  }
}

type Tx = (work: () => Promise<void>) => Promise<void>;

function pgTx(client: pg.Client): Tx {
  return async (work) => {
    await client.query('BEGIN');
    await work();
    await client.query('COMMIT');
  };
}

/** `pg`: one multi-row INSERT … SELECT unnest(…) per frame (arrays sent as text literals). */
export async function pgUnnest(url: string, shape: RawShape): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  await client.query(RAW_TABLE);
  await commitsOf(
    shape,
    (from) => {
      const c = frameColumns(from, shape.frame);
      return client.query({ name: 'raw-unnest', text: UNNEST_SQL, values: [c.seq, c.key, c.t, c.num] });
    },
    pgTx(client),
  );
  await client.end();
}

/** `postgres`: the same statement (its queries inside a transaction are pipelined). */
export async function postgresUnnest(url: string, shape: RawShape): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql.unsafe(RAW_TABLE);
  let tx: postgres.TransactionSql | undefined;
  await commitsOf(
    shape,
    (from) => {
      const c = frameColumns(from, shape.frame);
      return tx!.unsafe(UNNEST_SQL, [c.seq, c.key, c.t, c.num] as never, { prepare: true });
    },
    async (work) => {
      await sql.begin(async (t) => {
        tx = t;
        await work();
      });
    },
  );
  await sql.end();
}

function copyText(from: number, size: number): string {
  const c = frameColumns(from, size);
  let text = '';
  for (let i = 0; i < size; i++)
    text += `1\t${c.seq[i]}\t0\t${c.key[i]}\t${c.t[i]}\t${c.num[i]}\t\\N\tdegC\n`;
  return text;
}

/** Binary COPY rows (the header, then one tuple per sample, then the trailer). */
function copyBinary(from: number, size: number, first: boolean, last: boolean): Buffer {
  const c = frameColumns(from, size);
  const chunks: Buffer[] = [];
  if (first) {
    const header = Buffer.alloc(19);
    header.write('PGCOPY\n\xff\r\n\0', 0, 'latin1');
    chunks.push(header);
  }
  for (let i = 0; i < size; i++) {
    const key = Buffer.from(c.key[i]!);
    const row = Buffer.alloc(2 + 8 + 12 + 6 + 4 + key.length + 12 + 12 + 4 + 8);
    let o = row.writeInt16BE(8, 0);
    o = row.writeInt32BE(4, o);
    o = row.writeInt32BE(1, o);
    o = row.writeInt32BE(8, o);
    o = row.writeBigInt64BE(BigInt(c.seq[i]!), o);
    o = row.writeInt32BE(2, o);
    o = row.writeInt16BE(0, o);
    o = row.writeInt32BE(key.length, o);
    o += key.copy(row, o);
    o = row.writeInt32BE(8, o);
    o = row.writeDoubleBE(c.t[i]!, o);
    o = row.writeInt32BE(8, o);
    o = row.writeDoubleBE(c.num[i]!, o);
    o = row.writeInt32BE(-1, o);
    o = row.writeInt32BE(4, o);
    row.write('degC', o);
    chunks.push(row);
  }
  if (last) chunks.push(Buffer.from([0xff, 0xff]));
  return Buffer.concat(chunks);
}

/** `pg` + pg-copy-streams: one COPY per commit, `format` text or binary. */
export async function pgCopy(url: string, shape: RawShape, format: 'text' | 'binary'): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  await client.query(RAW_TABLE);
  const frames = shape.total / shape.frame;
  for (let f = 0; f < frames; f += shape.framesPerCommit) {
    const group = Math.min(shape.framesPerCommit, frames - f);
    const stream = client.query(
      copyFrom(
        `COPY raw_records (stream, seq, kind, key, t, num, value, unit) FROM STDIN (FORMAT ${format})`,
      ),
    );
    async function* chunks() {
      for (let g = 0; g < group; g++) {
        const from = (f + g) * shape.frame + 1;
        yield format === 'text'
          ? copyText(from, shape.frame)
          : copyBinary(from, shape.frame, g === 0, g === group - 1);
      }
    }
    await pipeline(chunks, stream);
  }
  await client.end();
}

/** `postgres`: COPY … FROM STDIN (text or binary) through its writable stream, one per commit. */
export async function postgresCopy(
  url: string,
  shape: RawShape,
  format: 'text' | 'binary' = 'text',
): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql.unsafe(RAW_TABLE);
  const frames = shape.total / shape.frame;
  for (let f = 0; f < frames; f += shape.framesPerCommit) {
    const group = Math.min(shape.framesPerCommit, frames - f);
    const stream = await sql
      .unsafe(`COPY raw_records (stream, seq, kind, key, t, num, value, unit) FROM STDIN (FORMAT ${format})`)
      .writable();
    async function* chunks() {
      for (let g = 0; g < group; g++) {
        const from = (f + g) * shape.frame + 1;
        yield format === 'text'
          ? copyText(from, shape.frame)
          : copyBinary(from, shape.frame, g === 0, g === group - 1);
      }
    }
    await pipeline(chunks, stream);
  }
  await sql.end();
}

/** Rows in raw_records (to check that a path stored everything). */
export async function rawCount(url: string): Promise<number> {
  const client = new pg.Client(url);
  await client.connect();
  const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM raw_records');
  await client.end();
  return Number(rows[0]!.n);
}
