import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { type AggregatorServer, startAggregatorServer } from '../../src/aggregator/server.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { RunTracker } from '../../src/engine/runTracker.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { until } from '../support/until.ts';

/** GET /api/runs, /api/runs/:id, /api/engines with the current run, and the /api/events stream. */
let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn();
  cleanup = [];
});

async function rig() {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork({ clock });
  const aggregator = new Aggregator({ store: new SqliteStore(':memory:'), clock });
  network.listen(aggregator);
  const server = await startAggregatorServer({ aggregator, port: 0 });
  const engine = new ResilientDispatcher({ engineId: 'api-1', connector: network, clock });
  const runs = new RunTracker(engine, clock);
  cleanup.push(async () => {
    await engine.close();
    await server.close();
    await aggregator.close();
  });
  await until('available', () => aggregator.engine('api-1')?.link === 'available', clock);
  return { clock, network, aggregator, server, engine, runs };
}

async function get(server: AggregatorServer, path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${server.url}${path}`);
  return { status: response.status, body: await response.json() };
}

describe('run API', () => {
  it('lists runs with filters and shows one run and the engine current run', async () => {
    const { clock, aggregator, server, runs } = await rig();
    const t0 = clock.now();
    runs.started('done-1', 'mix');
    await clock.advance(1000);
    runs.completed();
    const t1 = clock.now();
    runs.started('live-2');
    await until('runs persisted', async () => (await aggregator.run('live-2')) !== undefined, clock);
    const all = await get(server, '/api/runs');
    expect(all.status).toBe(200);
    expect((all.body as Array<{ id: string }>).map((r) => r.id)).toEqual(['live-2', 'done-1']);
    expect((await get(server, '/api/runs?state=completed')).body).toEqual([
      expect.objectContaining({
        id: 'done-1',
        engineId: 'api-1',
        state: 'completed',
        outcome: 'completed',
        startedAt: t0,
        endedAt: t1,
        method: 'mix',
        reason: null,
        records: 2,
      }),
    ]);
    expect((await get(server, '/api/runs?engine=other')).body).toEqual([]);
    expect(await get(server, '/api/runs/live-2')).toMatchObject({
      status: 200,
      body: { id: 'live-2', state: 'active' },
    });
    expect(await get(server, '/api/runs/nope')).toEqual({
      status: 404,
      body: { error: 'unknown-run', runId: 'nope' },
    });
    expect((await get(server, '/api/runs?state=happy')).status).toBe(400);
    expect((await get(server, '/api/engines/api-1')).body).toMatchObject({ currentRun: { id: 'live-2' } });
  });

  it('streams engine, progress and run changes as server-sent events', async () => {
    const { clock, network, server, runs } = await rig();
    const controller = new AbortController();
    cleanup.push(async () => controller.abort());
    const response = await fetch(`${server.url}/api/events`, { signal: controller.signal });
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const waitFor = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const next = reader.read();
        let chunk: { done: boolean; value?: string } | undefined;
        next.then((c) => {
          chunk = c;
        });
        await until(`stream shows ${pattern}`, () => chunk !== undefined, clock, { stepMs: 1 });
        if (chunk!.done) throw new Error('stream ended');
        text += chunk!.value ?? '';
      }
    };
    await waitFor(/event: snapshot\ndata: \{"engines":\[\{"id":"api-1"/);
    runs.started('sse-run');
    await waitFor(/event: run\ndata: \{[^\n]*"id":"sse-run"[^\n]*"state":"active"/);
    network.closeAll();
    await waitFor(/event: engine\ndata: \{"engineId":"api-1","link":"unavailable"/);
    await waitFor(/event: run\ndata: \{[^\n]*"state":"unconfirmed"/);
    await waitFor(/event: engine\ndata: \{"engineId":"api-1","link":"available"/);
    await waitFor(/event: run\ndata: \{[^\n]*"state":"active"/);
  });
});
