// What a careful Socket.IO or MQTT deployment would do with what it receives: persist it into the same
// SQLite schema as engine-link's store (file, WAL, synchronous=NORMAL), with a group commit of everything
// received in one turn of the event loop, and only then acknowledge it (Socket.IO) and time it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { type LatencyWindow, type PlainSample, wallNow } from '../support.ts';

interface Pending {
  stream: number;
  sample: PlainSample;
  done: (() => void) | undefined;
}

export class SqliteSink {
  private readonly dir = mkdtempSync(join(tmpdir(), 'engine-link-bench-sink-'));
  private readonly db: Database.Database;
  private readonly commit: (rows: Pending[]) => void;
  private readonly streams = new Map<string, { id: number; seq: number }>();
  private pending: Pending[] = [];
  private queued = false;
  persisted = 0;

  constructor(private readonly latency?: LatencyWindow) {
    const path = join(this.dir, 'sink.db');
    new SqliteStore(path).close(); // the schema
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    const insert = this.db.prepare(
      'INSERT INTO records (stream, seq, kind, key, t, value, unit) VALUES (?, ?, 0, ?, ?, ?, ?)',
    );
    const seqs = new Map<number, number>();
    this.commit = this.db.transaction((rows: Pending[]) => {
      for (const { stream, sample } of rows) {
        const seq = (seqs.get(stream) ?? 0) + 1;
        seqs.set(stream, seq);
        insert.run(stream, seq, sample.tag, sample.t, sample.value, sample.unit);
      }
    });
  }

  add(client: string, sample: PlainSample, done?: () => void): void {
    let stream = this.streams.get(client);
    if (!stream) {
      stream = { id: this.streams.size + 1, seq: 0 };
      this.streams.set(client, stream);
    }
    this.pending.push({ stream: stream.id, sample, done });
    if (!this.queued) {
      this.queued = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = () => {
    this.queued = false;
    const rows = this.pending;
    this.pending = [];
    this.commit(rows);
    this.persisted += rows.length;
    const now = wallNow();
    for (const row of rows) {
      this.latency?.add(now - row.sample.t);
      row.done?.();
    }
  };

  close(): void {
    this.db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
