import { describe, expect, it } from 'vitest';
import { BacklogAge } from '../../src/engine/backlogAge.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';

describe('BacklogAge', () => {
  it('gives the age of the oldest unacknowledged record, never less than it is and at most a slot more', () => {
    const age = new BacklogAge(100);
    // Records 1..50 at t=0..490 (one every 10 ms), then a pause, then 51..60 at t=5000.
    for (let seq = 1; seq <= 50; seq++) age.appended(seq, (seq - 1) * 10);
    for (let seq = 51; seq <= 60; seq++) age.appended(seq, 5000);
    const now = 6000;
    for (const oldest of [1, 7, 25, 50, 51, 60]) {
      const appendedAt = oldest <= 50 ? (oldest - 1) * 10 : 5000;
      const trueAge = now - appendedAt;
      const told = age.ageMs(oldest, 60, now);
      expect(told, `record ${oldest}`).toBeGreaterThanOrEqual(trueAge);
      expect(told, `record ${oldest}`).toBeLessThan(trueAge + 100);
    }
    expect(age.ageMs(61, 60, now)).toBe(0);
  });

  it('keeps memory bounded through a long outage, and stays an upper bound', () => {
    const age = new BacklogAge(100, 64);
    // A day of records, one every second.
    for (let i = 0; i < 86_400; i++) age.appended(i + 1, i * 1000);
    expect(age.marks).toBeLessThanOrEqual(64);
    const now = 86_400_000;
    for (const oldest of [1, 1000, 43_200, 86_000]) {
      const trueAge = now - (oldest - 1) * 1000;
      expect(age.ageMs(oldest, 86_400, now)).toBeGreaterThanOrEqual(trueAge);
    }
  });

  it('is what the dispatcher tells as backlogAgeMs while its link is down', async () => {
    const clock = new SimulatedClock(1_000_000);
    const network = new MemoryNetwork({ clock });
    const dispatcher = new ResilientDispatcher({ engineId: 'age-1', connector: network, clock });
    network.refuseConnects();
    expect(dispatcher.backlogAgeMs).toBe(0);
    dispatcher.send({ kind: 'event', name: 'first' });
    await clock.advance(30_000);
    dispatcher.send({ kind: 'event', name: 'second' });
    expect(dispatcher.backlogAgeMs).toBeGreaterThanOrEqual(30_000);
    expect(dispatcher.backlogAgeMs).toBeLessThan(30_100);
    await dispatcher.close({ drainTimeoutMs: 0 });
  });
});
