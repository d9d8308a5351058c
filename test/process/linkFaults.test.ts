import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { PHASE_PAUSED_OFFLINE } from '../../src/engine/simulatedEngine.ts';
import { waitFor } from '../../src/faults/waitFor.ts';
import type { EngineSlot } from '../../src/soak/engineSlot.ts';
import { ProcessWorld } from './support/world.ts';

/**
 * Each engine's link runs through its own fault proxy (src/transport/faultProxy.ts, in the test process:
 * it is the network), which cuts it, black-holes it and makes it flap. Every program is an OS process
 * started through the CLI; each test ends with the store checked against what the engines printed.
 */
const worlds: ProcessWorld[] = [];
afterEach(async () => {
  for (const world of worlds.splice(0)) await world.cleanup();
});

const logOf = (slot: EngineSlot) => slot.current?.stderr() ?? '';

describe('link faults through the fault proxy', () => {
  it('cut (RST), black-holed (half-open) and flapping: the engines ride it out and deliver everything', async () => {
    const w = new ProcessWorld();
    worlds.push(w);
    await w.aggregator.start();
    const engines = [await w.engine('faulty-memory'), await w.engine('faulty-durable', { durable: true })];
    await Promise.all(engines.map((slot) => slot.start()));
    const persisted = async (slot: EngineSlot) =>
      (await w.api<Array<{ id: string; persistedSeq: number }>>('/api/engines')).find((v) => v.id === slot.id)
        ?.persistedSeq ?? 0;
    const deliveringAgain = async (slot: EngineSlot, what: string) => {
      const was = await persisted(slot);
      await w.until(what, slot.id, (v) => v.link === 'available' && v.persistedSeq > was + 200);
    };
    await Promise.all(
      engines.map(async (slot) => {
        const proxy = slot.proxy;
        await deliveringAgain(slot, 'delivering');
        // Cut: both sides see the reset at once; the engine comes back through the proxy.
        const accepted = proxy.stats.accepted;
        proxy.cut();
        await waitFor(`${slot.id} reconnects`, () => proxy.stats.accepted > accepted);
        await deliveringAgain(slot, 'delivering after the cut');
        // Black hole: no FIN, no RST; each side's heartbeat notices within its timeout.
        proxy.blackhole();
        await w.until('seen lost through the black hole', slot.id, (v) => v.link === 'unavailable', 10_000);
        await waitFor(`${slot.id} notices the black hole`, () =>
          /nothing heard for \d+ ms \(dead or half-open link\)/.test(logOf(slot)),
        );
        await sleep(3000); // how long the black hole lasts: the test's input
        proxy.restore();
        await deliveringAgain(slot, 'delivering after the black hole');
        // Flapping: closed (FIN) and refused for 300 ms, then passing for 700 ms, eight times.
        for (let i = 0; i < 8; i++) {
          proxy.closeConnections();
          proxy.refuse();
          await sleep(300);
          proxy.restore();
          await sleep(700);
        }
        await deliveringAgain(slot, 'delivering after the flapping');
      }),
    );
    await w.finish();
  }, 150_000);

  it('--max-offline: the running method pauses once the link has been down that long and resumes when it is back', async () => {
    const w = new ProcessWorld();
    worlds.push(w);
    await w.aggregator.start();
    const engine = await w.engine('patient', { runSeconds: 8, failEvery: 0, args: ['--max-offline', '2'] });
    await engine.start();
    type Run = { id: string; state: string; startedAt: number; endedAt: number | null };
    const run = await waitFor('a run active at the aggregator', async () =>
      (await w.api<Run[]>('/api/runs?engine=patient')).find((r) => r.state === 'active'),
    );
    const downAt = Date.now();
    engine.proxy.refuse();
    await waitFor('the engine pauses its method', () =>
      /link down for 2 s \(--max-offline\): pausing the running method/.test(logOf(engine)),
    );
    expect(Date.now() - downAt).toBeGreaterThanOrEqual(2000);
    await sleep(1500); // how long it stays paused: the test's input
    engine.proxy.restore();
    await waitFor('the engine resumes it', () =>
      /link back after a long outage: resuming the method it paused/.test(logOf(engine)),
    );
    const ended = await waitFor(
      'the run completes',
      async () => (await w.api<Run[]>('/api/runs?engine=patient')).find((r) => r.id === run.id && r.endedAt),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    // The method ran its 8 s, and waited out the pause on top of them.
    expect(ended.state).toBe('completed');
    expect(ended.endedAt! - ended.startedAt).toBeGreaterThanOrEqual(8000 + 1500);
    await w.finish();
    // The run's phases as the aggregator stored them: paused while offline too long, then running again.
    const store = new SqliteStore(w.aggregator.dbPath);
    try {
      const phases = store
        .records('patient')
        .filter((r) => r.key === 'run.phase' && (r.value as { runId?: string }).runId === run.id)
        .map((r) => (r.value as { phase: string }).phase);
      expect(phases).toEqual([PHASE_PAUSED_OFFLINE, 'running']);
    } finally {
      store.close();
    }
  }, 90_000);
});
