import { afterEach, describe, expect, it } from 'vitest';
import { ProcessWorld } from './support/world.ts';

/**
 * The README's promise that a caller may always retry a command with the same id, across an engine
 * restart: the engine CLI with `--outbox DIR` (its command log is kept there), a command sent through the
 * aggregator's HTTP API, the engine SIGKILLed and restarted, the same id sent again. The answer must be
 * the first one, from the log: `ping` answers with the engine's clock, so a second run would differ.
 */
const worlds: ProcessWorld[] = [];
afterEach(async () => {
  for (const world of worlds.splice(0)) await world.cleanup();
});

type Answer = { id: string; ok: boolean; result?: { pong: number }; error?: string };

async function command(w: ProcessWorld, engineId: string, body: object): Promise<Answer> {
  const response = await fetch(`${w.aggregator.url}/api/engines/${engineId}/commands`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await response.json()) as Answer;
}

describe('a command id retried after the engine restarted (durable outbox)', () => {
  it('is answered from the command log on disk, not run again', async () => {
    const w = new ProcessWorld();
    worlds.push(w);
    await w.aggregator.start();
    const slot = await w.engine('retried', { direct: true, durable: true });
    await slot.start();
    await w.until('available', slot.id, (v) => v.link === 'available');
    const first = await command(w, slot.id, { id: 'cmd-retry-1', name: 'ping' });
    expect(first).toMatchObject({ id: 'cmd-retry-1', ok: true });

    await slot.kill();
    await slot.start();
    await w.until('available again', slot.id, (v) => v.link === 'available');
    const retried = await command(w, slot.id, { id: 'cmd-retry-1', name: 'ping' });
    expect(retried).toEqual(first);
    // A new id runs: the engine takes commands, and its clock has moved on.
    const fresh = await command(w, slot.id, { id: 'cmd-retry-2', name: 'ping' });
    expect(fresh.ok).toBe(true);
    expect(fresh.result!.pong).toBeGreaterThan(first.result!.pong);
    await w.finish();
  }, 60_000);
});
