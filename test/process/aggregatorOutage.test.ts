import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it } from 'vitest';
import { ProcessWorld } from './support/world.ts';

/**
 * The aggregator goes away (SIGKILL) while engines run methods, with outboxes in memory and on disk; it
 * comes back on the same store and port. Every program is an OS process started through the CLI, over
 * real sockets; each test ends with the store checked against what the engines printed.
 */
const worlds: ProcessWorld[] = [];
afterEach(async () => {
  for (const world of worlds.splice(0)) await world.cleanup();
});

async function twoEngines() {
  const w = new ProcessWorld();
  worlds.push(w);
  await w.aggregator.start();
  const engines = [
    await w.engine('outage-memory', { direct: true }),
    await w.engine('outage-durable', { direct: true, durable: true }),
  ];
  await Promise.all(engines.map((slot) => slot.start()));
  for (const slot of engines)
    await w.until('delivering', slot.id, (v) => v.link === 'available' && v.persistedSeq > 200);
  return { w, engines };
}

describe('aggregator outages', () => {
  it('the aggregator SIGKILLed and absent for 40 s: the engines ride it out and deliver everything once it is back', async () => {
    const { w, engines } = await twoEngines();
    await w.aggregator.kill();
    // The outage's length is the test's input, not a wait for something to happen.
    await sleep(40_000);
    w.expectAlive();
    await w.aggregator.start();
    for (const slot of engines)
      await w.until(
        'back and caught up',
        slot.id,
        (v) => v.link === 'available' && v.persistedSeq > 8000,
        60_000,
      );
    await w.finish();
  }, 150_000);

  it('the aggregator restarted twice in a row: the engines reconnect and deliver everything', async () => {
    const { w, engines } = await twoEngines();
    await w.aggregator.kill();
    await w.aggregator.start();
    await w.aggregator.kill();
    await w.aggregator.start();
    w.expectAlive();
    const before = await w.api<Array<{ id: string; persistedSeq: number }>>('/api/engines');
    for (const slot of engines) {
      const was = before.find((v) => v.id === slot.id)?.persistedSeq ?? 0;
      await w.until(
        'back and delivering',
        slot.id,
        (v) => v.link === 'available' && v.persistedSeq > was + 400,
      );
    }
    await w.finish();
  }, 90_000);
});
