import { afterEach, describe, expect, it } from 'vitest';
import type { EngineSlot } from '../../src/soak/engineSlot.ts';
import { ProcessWorld } from './support/world.ts';

/**
 * Engines killed with SIGKILL right after they start a run, then restarted: with an outbox in memory
 * (the restarted process has a new epoch) and on disk (same epoch, numbering carries on). Every program is
 * an OS process started through the CLI; the test ends with the store checked against what the engines
 * printed, so no run of a dead process may be left active or unconfirmed.
 */
const worlds: ProcessWorld[] = [];
afterEach(async () => {
  for (const world of worlds.splice(0)) await world.cleanup();
});

/** Resolves at the next run start the current process prints from now on. */
function nextRunStart(slot: EngineSlot): Promise<void> {
  return new Promise((resolve) =>
    slot.current!.onLine((line) => {
      if (line.startsWith('{"run":{"event":"started"')) resolve();
    }),
  );
}

describe('an engine killed right after it starts a run', () => {
  it('SIGKILLed and restarted, three times: each of those runs ends interrupted, none stays active', async () => {
    const w = new ProcessWorld();
    worlds.push(w);
    await w.aggregator.start();
    const engines = [
      await w.engine('killed-memory', { direct: true }),
      await w.engine('killed-durable', { direct: true, durable: true }),
    ];
    await Promise.all(
      engines.map(async (slot) => {
        await slot.start();
        for (let i = 0; i < 3; i++) {
          // The link is up, so the start's frame goes out at once; the kill follows its printed line.
          await w.until('available', slot.id, (v) => v.link === 'available');
          await nextRunStart(slot);
          await slot.kill();
          await slot.start();
        }
        const last = slot.lifetimes.at(-1)!;
        await w.until(
          'delivering',
          slot.id,
          (v) => v.link === 'available' && v.persistedSeq > last.startSeq + 400,
        );
      }),
    );
    // The killed processes' runs that reached the aggregator are interrupted, with the reason that fits.
    type Run = { id: string; state: string; reason: string | null };
    const memoryRuns = await w.api<Run[]>('/api/runs?engine=killed-memory&state=interrupted');
    const durableRuns = await w.api<Run[]>('/api/runs?engine=killed-durable&state=interrupted');
    expect(memoryRuns.map((r) => r.reason)).toContain('engine restarted during the run');
    expect(durableRuns.map((r) => r.reason)).toContain('engine no longer runs it and sent no end');
    await w.finish();
  }, 120_000);
});
