import { afterEach, describe, expect, it } from 'vitest';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { RunTracker } from '../../src/engine/runTracker.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';
import { type CliProcess, runCli } from '../support/childProcess.ts';
import { tempDbPath } from '../support/tempDb.ts';
import { nextEvent } from '../support/until.ts';

/**
 * The aggregator is killed with SIGKILL (no chance to flush or close anything) in the middle of a run and
 * of a stream of records, then started again on the same SQLite file: every run state and every record
 * comes back exactly once, and the run reconciles when the engine catches up.
 */
const children: CliProcess[] = [];
let engine: ResilientDispatcher | undefined;
afterEach(async () => {
  await engine?.close();
  for (const child of children.splice(0))
    if (child.child.exitCode === null) {
      child.child.kill('SIGKILL');
      await child.exited;
    }
});

async function startAggregator(
  db: string,
  port: number,
): Promise<{ child: CliProcess; url: string; port: number }> {
  const child = runCli([
    'aggregator',
    '--db',
    db,
    '--port',
    String(port),
    '--log-level',
    'warn',
    '--heartbeat-timeout',
    '1000',
    '--heartbeat-ms',
    '250',
  ]);
  children.push(child);
  const line = await child.waitForLine(/listening on/);
  const url = /listening on (http:\/\/[^\s]+)/.exec(line)![1]!;
  return { child, url, port: Number(new URL(url).port) };
}

async function getJson<T>(url: string): Promise<T> {
  return (await fetch(url)).json() as Promise<T>;
}

describe('aggregator killed with SIGKILL mid-run', () => {
  it('recovers every run state and record from its store and reconciles the run', async () => {
    const db = tempDbPath();
    const first = await startAggregator(db, 0);
    engine = new ResilientDispatcher({
      engineId: 'crash-1',
      connector: new WebSocketConnector(`ws://127.0.0.1:${first.port}`, { handshakeTimeoutMs: 1000 }),
      heartbeatTimeoutMs: 1000,
      connectTimeoutMs: 1000,
      retry: { initialMs: 50, maxMs: 200 },
      outbox: { batchRecords: 500 },
      snapshot: () => runs.snapshot(),
    });
    const runs = new RunTracker(engine);
    await nextEvent(engine, 'state', (s) => s === 'connected');
    runs.started('crash-run');
    const startedAt = runs.snapshot().current!.startedAt;
    for (let i = 0; i < 5000; i++) engine.send({ kind: 'sample', tag: 'T', value: i });
    // Kill it while the stream is still being ingested.
    await nextEvent(engine, 'backlog', () => engine!.stats.acked > 1000);
    first.child.child.kill('SIGKILL');
    await first.child.exited;
    const ackedBeforeKill = engine.stats.acked;
    for (let i = 0; i < 3000; i++) engine.send({ kind: 'sample', tag: 'T', value: i });
    runs.completed();
    const endedAt = runs.snapshot().last!.endedAt;

    const second = await startAggregator(db, first.port);
    const run = await getJson<{ state: string; startedAt: number }>(`${second.url}/api/runs/crash-run`);
    expect(run.startedAt).toBe(startedAt);
    expect(['unconfirmed', 'completed']).toContain(run.state);
    expect(await engine.drain(20_000)).toBe(true);
    expect(engine.stats.acked).toBeGreaterThanOrEqual(ackedBeforeKill);

    const view = await getJson<{ persistedSeq: number; persistedCount: number; epoch: string }>(
      `${second.url}/api/engines/crash-1`,
    );
    // 1 start + 8000 samples + 1 end, each exactly once.
    expect(view).toMatchObject({ persistedSeq: 8002, persistedCount: 8002, epoch: engine.stats.epoch });
    expect(await getJson(`${second.url}/api/runs/crash-run`)).toMatchObject({
      id: 'crash-run',
      engineId: 'crash-1',
      state: 'completed',
      startedAt,
      endedAt,
      records: 8002,
    });
  });
});
