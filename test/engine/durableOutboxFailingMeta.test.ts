import { describe, expect, it } from 'vitest';
import type { GapInfo } from '../../src/engine/outbox/outbox.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import {
  controllableFileSystem,
  event,
  outboxesClosedAfterEach,
  put,
  readAll,
  sample,
  tempOutboxPath,
} from './durableOutboxSupport.ts';

/**
 * A disk that fails every write, the meta file's included, then a crash (the outbox dropped without
 * closing, as a killed process drops it): the restarted outbox must never hand out again a sequence
 * number the first one handed out (one that may have reached the aggregator), and every record that was
 * handed out must be on disk or inside a gap the restart reports. The simulation's seed 6 found this.
 */
const outbox = outboxesClosedAfterEach();

describe('DurableOutbox: a crash while the disk and its meta file fail', () => {
  for (const sync of ['batch', 'always'] as const) {
    it(`never hands out a sequence number twice, nor loses one without a gap (${sync})`, async () => {
      const path = tempOutboxPath();
      const clock = new SimulatedClock();
      const disk = controllableFileSystem();
      const o = outbox({
        path,
        clock,
        sync,
        fileSystem: disk.fs,
        diskRetry: { initialMs: 1000, maxMs: 1000 },
      });
      for (let i = 1; i <= 100; i++) put(o, sample(i));
      await clock.advance(500); // synced, and (batch) the reserve given back: the engine is idle
      expect(o.durableSeq).toBe(100);

      disk.fail('EIO');
      const numbered = new Map<number, string>();
      for (let i = 101; i <= 150; i++) {
        const seq = put(o, i % 10 === 0 ? event(i) : sample(i));
        if (seq !== 0) numbered.set(seq, `${i}`);
      }
      await clock.advance(2500); // two retries of the disk fail
      expect(o.inMemory).toBe(true);
      // Whatever the outbox offers to send may reach the aggregator: all of it counts as handed out.
      const offered = readAll(o, 0);
      const handedOut = Math.max(100, ...numbered.keys(), ...offered.map((h) => h.seq));

      // Crash; the disk works again for the restarted engine.
      disk.fail(undefined);
      const gaps: GapInfo[] = [];
      const restarted = outbox({ path, clock: new SimulatedClock(), fileSystem: disk.fs });
      restarted.on('gap', (gap) => gaps.push(gap));
      await Promise.resolve();
      expect(restarted.recovery.lastSeq).toBeGreaterThanOrEqual(handedOut);
      const next = put(restarted, sample(999));
      expect(next).toBeGreaterThan(handedOut);
      const onDisk = new Set(readAll(restarted, 0).map((h) => h.seq));
      const reported = [...gaps, ...restarted.recovery.damaged];
      for (const { seq } of offered) {
        const inGap = reported.some((gap) => gap.fromSeq <= seq && seq <= gap.toSeq);
        expect(onDisk.has(seq) || inGap, `seq ${seq} kept or reported`).toBe(true);
      }
    });
  }

  it('numbers the records that waited, in order, once the meta file takes a write again', async () => {
    const path = tempOutboxPath();
    const clock = new SimulatedClock();
    const disk = controllableFileSystem();
    const o = outbox({ path, clock, fileSystem: disk.fs, diskRetry: { initialMs: 1000, maxMs: 1000 } });
    put(o, sample(1));
    await clock.advance(500);
    disk.fail('EIO');
    const answers = [2, 3, 4].map((i) => put(o, sample(i)));
    expect(answers).toEqual([0, 0, 0]);
    // The segments still fail, the meta file works: numbers can be noted, so the records are numbered.
    disk.fail('EIO', { spareMeta: true });
    await clock.advance(1000);
    expect(o.inMemory).toBe(true);
    expect(put(o, sample(5))).toBe(6); // after the disk's event and the three that waited
    const values = readAll(o, 0)
      .filter((h) => h.item[0] === 's')
      .map((h) => h.item[3]);
    expect(values).toEqual([1, 2, 3, 4, 5]);
    expect(readAll(o, 0).map((h) => h.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
