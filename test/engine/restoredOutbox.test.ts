import { cpSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { ProtocolError } from '../../src/protocol/errors.ts';
import { memoryWorld } from '../support/memoryWorld.ts';
import { until } from '../support/until.ts';
import { tempOutboxPath } from './durableOutboxSupport.ts';

/**
 * A durable outbox restored from an older copy (a backup) comes back with its epoch and fewer records
 * than the aggregator holds for that epoch: the welcome acknowledges more than the engine ever numbered.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('an outbox restored from an older copy', () => {
  it('numbers its new records after what the aggregator holds, so every one of them is stored', async () => {
    const { clock, network, store } = memoryWorld(cleanups);
    const path = tempOutboxPath();
    const backup = `${path}.backup`;
    let value = 0;
    /**
     * A process on the outbox: once connected, sends `n` samples (values counting up across processes),
     * drains, stops. (Records numbered before the welcome, in the range the aggregator already holds,
     * could not be told apart from the aggregator's; the error says so.)
     */
    const run = async (n: number) => {
      const engine = new ResilientDispatcher({
        engineId: 'restored',
        connector: network,
        clock,
        random: () => 0,
        outbox: { path, sync: 'always' },
      });
      const errors: Error[] = [];
      engine.on('error', (error) => errors.push(error));
      await until('connected', () => engine.state === 'connected', clock);
      for (let i = 0; i < n; i++) engine.send({ kind: 'sample', tag: 'T', value: value++, t: 1000 + value });
      await until('drained', () => engine.state === 'connected' && engine.stats.backlog === 0, clock);
      const stats = engine.stats;
      await engine.close();
      return { stats, errors };
    };

    const first = await run(100);
    cpSync(path, backup, { recursive: true });
    const second = await run(100);
    expect(second.stats).toMatchObject({ epoch: first.stats.epoch, lastSeq: 200, acked: 200 });
    // The outbox is put back as it was after the first process.
    rmSync(path, { recursive: true });
    cpSync(backup, path, { recursive: true });

    const third = await run(150);
    expect(third.stats).toMatchObject({ epoch: first.stats.epoch, lastSeq: 350, acked: 350, backlog: 0 });
    expect(third.errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/already holds records up to 200 .* beyond this engine's last \(100\)/),
    ]);
    expect(third.errors[0]).toBeInstanceOf(ProtocolError);
    // Every sample of every process is stored once, in order; 201..350 are the third process's.
    const stored = store.records('restored', { epoch: first.stats.epoch });
    expect(stored.map((r) => r.value)).toEqual(Array.from({ length: 350 }, (_, i) => i));
    expect(stored.at(-1)?.seq).toBe(350);
  });
});
