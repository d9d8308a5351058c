import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { type AggregatorServer, startAggregatorServer } from '../../src/aggregator/server.ts';
import type { StoredRecord } from '../../src/aggregator/store/recordStore.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { FaultProxy } from '../../src/transport/faultProxy.ts';
import { tempOutboxPath } from '../engine/durableOutboxSupport.ts';
import { type CliProcess, runCli } from '../support/childProcess.ts';
import { tempDbPath } from '../support/tempDb.ts';

/**
 * The simulated engine, a real child process with a durable outbox, is killed with SIGKILL during an
 * outage (no chance to flush or close anything), started again on the same outbox, and the link is
 * restored. The real aggregator (in this process, behind a TCP fault proxy) must then hold:
 *  - under `--outbox-sync always`: every record send() had accepted before the kill, exactly once, in
 *    order, with no gap;
 *  - under `--outbox-sync batch`: everything up to the last sync exactly once and in order, then one gap
 *    "unsynced" starting right after it and covering every record send() accepted after it.
 * The child reports what send() accepted on stdout (progress lines); the test waits on those lines.
 */
const ENGINE = 'crash-engine';
const TAGS = 5;

interface Progress {
  lastSeq: number;
  durableSeq: number;
  acked: number;
  state: string;
}

interface Rig {
  store: SqliteStore;
  aggregator: Aggregator;
  server: AggregatorServer;
  proxy: FaultProxy;
  port: number;
}

const rigs: Rig[] = [];
const children: CliProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0))
    if (child.child.exitCode === null) {
      child.child.kill('SIGKILL');
      await child.exited;
    }
  for (const r of rigs.splice(0)) {
    await r.proxy.close();
    await r.server.close();
    await r.aggregator.close();
  }
});

async function rig(): Promise<Rig> {
  const store = new SqliteStore(tempDbPath());
  const aggregator = new Aggregator({ store, heartbeatMs: 100, heartbeatTimeoutMs: 400 });
  const server = await startAggregatorServer({ aggregator, port: 0 });
  const proxy = new FaultProxy({ host: '127.0.0.1', port: server.port });
  const { port } = await proxy.start();
  const r = { store, aggregator, server, proxy, port };
  rigs.push(r);
  return r;
}

function startEngine(r: Rig, outbox: string, sync: 'always' | 'batch', rate: number): CliProcess {
  const child = runCli([
    'engine',
    '--aggregator',
    `ws://127.0.0.1:${r.port}`,
    '--id',
    ENGINE,
    '--simulate',
    '--rate',
    String(rate),
    '--tags',
    String(TAGS),
    '--outbox',
    outbox,
    '--outbox-sync',
    sync,
    '--progress-ms',
    '20',
    '--heartbeat-timeout',
    '400',
    '--drain-timeout',
    '20',
    '--log-level',
    'warn',
  ]);
  children.push(child);
  return child;
}

/** The first progress line satisfying `test`, waiting for the child's output as it comes. */
async function progress(child: CliProcess, test: (p: Progress) => boolean): Promise<Progress> {
  const exited = child.exited.then((code) => {
    throw new Error(`engine exited (${code}) before the expected progress:\n${child.stderr()}`);
  });
  for (let seen = 0; ; ) {
    for (; seen < child.lines.length; seen++) {
      const line = child.lines[seen]!;
      if (!line.startsWith('{"progress"')) continue;
      const p = (JSON.parse(line) as { progress: Progress }).progress;
      if (test(p)) return p;
    }
    await Promise.race([once(child.child.stdout, 'data'), exited]);
  }
}

function lastProgress(child: CliProcess): Progress {
  const line = child.lines.filter((l) => l.startsWith('{"progress"')).at(-1)!;
  return (JSON.parse(line) as { progress: Progress }).progress;
}

/** Records of the first engine process are its samples in order: tag and engine time follow the seq. */
function expectFirstRunRecords(rows: StoredRecord[], upTo: number, rate: number): void {
  const t0 = rows[0]!.t;
  const wrong = rows
    .filter((row) => row.seq <= upTo)
    .filter(
      (row) =>
        row.kind !== 'sample' ||
        row.key !== `tag${((row.seq - 1) % TAGS) + 1}` ||
        Math.abs(row.t - (t0 + ((row.seq - 1) * 1000) / rate)) > 1e-6,
    );
  expect(wrong.slice(0, 5)).toEqual([]);
}

async function crashAndRecover(sync: 'always' | 'batch', rate: number, buffered: number) {
  const r = await rig();
  const outbox = tempOutboxPath();
  const first = startEngine(r, outbox, sync, rate);
  await progress(first, (p) => p.acked >= 200);

  // Outage: every connection reset, new ones refused. The engine buffers to its outbox.
  r.proxy.refuse();
  await progress(first, (p) => p.state.startsWith('buffering') && p.lastSeq - p.acked >= buffered);
  const firstClosed = once(first.child, 'close');
  first.child.kill('SIGKILL');
  await firstClosed;
  const beforeKill = lastProgress(first);

  // Started again on the same outbox, still offline; then the link comes back.
  const second = startEngine(r, outbox, sync, rate);
  const resumed = await progress(second, () => true);
  r.proxy.restore();
  await progress(second, (p) => p.state === 'connected' && p.acked >= resumed.lastSeq);
  // 'close' (not 'exit'): by then every line the child printed has been read.
  const closed = once(second.child, 'close');
  second.child.kill('SIGTERM');
  await closed;
  expect(second.child.exitCode).toBe(0);
  const finalLine = second.lines.findLast((line) => line.startsWith('{"engineId"'));
  const final = JSON.parse(finalLine!) as { epoch: string; lastSeq: number; acked: number };
  expect(final.acked).toBe(final.lastSeq);

  const rows = r.store.records(ENGINE, { epoch: final.epoch });
  const gaps = r.store.gaps(ENGINE);
  return { beforeKill, resumed, final, rows, gaps };
}

describe('durable outbox: engine process killed with SIGKILL during an outage', () => {
  it('sync always: every record accepted before the kill is persisted exactly once, in order', async () => {
    const rate = 300;
    const { beforeKill, final, rows, gaps } = await crashAndRecover('always', rate, 300);
    // One epoch from the first record to the last: numbering continued across the crash.
    expect(rows[0]?.seq).toBe(1);
    expect(rows.map((row) => row.seq)).toEqual(Array.from({ length: final.lastSeq }, (_, i) => i + 1));
    expect(gaps).toEqual([]);
    // Every record acknowledged by send() before the kill (durable as send() returned).
    expect(beforeKill.durableSeq).toBe(beforeKill.lastSeq);
    expectFirstRunRecords(rows, beforeKill.lastSeq, rate);
  }, 90_000);

  it('sync batch: what is missing is exactly the last unsynced window, reported as "unsynced"', async () => {
    const rate = 2000;
    const { beforeKill, resumed, final, rows, gaps } = await crashAndRecover('batch', rate, 1500);
    expect(rows[0]?.seq).toBe(1);
    // The store: 1..L, then at most one gap (L+1..R, unsynced), then R+1..last: every number accounted for.
    const seqs = rows.map((row) => row.seq);
    let L = 0;
    while (L < seqs.length && seqs[L] === L + 1) L++;
    expect(gaps.length).toBeLessThanOrEqual(1);
    const gap = gaps[0];
    if (gap) {
      expect(gap).toMatchObject({ epoch: final.epoch, fromSeq: L + 1, reason: 'unsynced' });
      expect(gap.count).toBe(gap.toSeq - gap.fromSeq + 1);
      // Nothing synced was lost; every record accepted after the last sync is inside the reported window.
      expect(L).toBeGreaterThanOrEqual(beforeKill.durableSeq);
      expect(gap.toSeq).toBeGreaterThanOrEqual(beforeKill.lastSeq);
      expect(gap.toSeq - L).toBeLessThanOrEqual(10_000);
      expect(resumed.lastSeq).toBeGreaterThanOrEqual(gap.toSeq);
      expect(seqs.slice(L)).toEqual(
        Array.from({ length: final.lastSeq - gap.toSeq }, (_, i) => gap.toSeq + 1 + i),
      );
    } else {
      // Killed right after a sync with nothing reserved: nothing is missing.
      expect(L).toBeGreaterThanOrEqual(beforeKill.lastSeq);
      expect(seqs).toEqual(Array.from({ length: final.lastSeq }, (_, i) => i + 1));
    }
    expectFirstRunRecords(rows, L, rate);
  }, 90_000);
});
