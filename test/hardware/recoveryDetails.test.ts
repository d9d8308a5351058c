import { describe, expect, it } from 'vitest';
import type { HardwareFault } from '../../src/hardware/hardwareRecovery.ts';
import { inIssue, inReconnect, pump, setpoint, setup, valve } from './support.ts';

/**
 * What the hardware recovery promises beyond its states (those are the model's): writes of a batch
 * need a value per register, and pending writes that meet a fault again stay pending and mask it.
 */
describe('hardware recovery details', () => {
  it('refuses a write batch whose values and registers do not pair up, writing nothing', async () => {
    const rt = setup();
    await rt.recovery.connect();
    await expect(rt.recovery.writeBatch([1, 2], [setpoint])).rejects.toThrow(
      new RangeError('writeBatch: 2 values for 1 registers'),
    );
    expect(rt.hardware.writeLog).toEqual([]);
  });

  it('pending writes that meet a fault when flushed stay pending, the fault masked, the link in issue', async () => {
    const rt = setup();
    const faults: HardwareFault[] = [];
    const flushed: string[][] = [];
    rt.recovery.on('fault', (fault) => faults.push(fault));
    rt.recovery.on('pendingWritesFlushed', (names) => flushed.push([...names]));
    await inReconnect(rt);
    await rt.recovery.write(12, setpoint);
    await rt.recovery.write('on', pump);
    // The reconnect succeeds, but writes still fail when the flush comes.
    rt.hardware.failConnects = false;
    const counted = rt.recovery.counters.faults;
    await rt.clock.advance(500);
    await rt.clock.advance(0);
    expect(rt.recovery.state).toBe('issue');
    expect([...rt.recovery.pendingWrites]).toEqual([
      ['setpoint', 12],
      ['pump', 'on'],
    ]);
    expect(faults.at(-1)).toMatchObject({
      operation: 'write',
      registers: ['setpoint', 'pump'],
      masked: true,
    });
    expect(rt.recovery.counters.faults).toBe(counted + 1);
    expect(flushed).toEqual([]);
    // Once the device takes writes again, a successful write flushes them, and says which.
    rt.hardware.repairLink();
    await rt.recovery.write(true, valve);
    await rt.clock.advance(0);
    expect(rt.recovery.state).toBe('ok');
    expect(flushed).toEqual([['setpoint', 'pump']]);
    expect(rt.hardware.writeLog).toEqual([
      { register: 'valve', value: true },
      { register: 'setpoint', value: 12 },
      { register: 'pump', value: 'on' },
    ]);
  });

  it('a fault in issue is masked and counted, and connect() there resolves at once', async () => {
    const rt = setup();
    await inIssue(rt);
    const calls = rt.hardware.calls.connect;
    await rt.recovery.connect();
    expect(rt.hardware.calls.connect).toBe(calls);
    expect(rt.recovery.counters.faults).toBe(1);
  });
});
