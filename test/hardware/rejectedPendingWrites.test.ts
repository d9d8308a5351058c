import { describe, expect, it } from 'vitest';
import type { HardwareRegister } from '../../src/hardware/register.ts';
import { inReconnect, pump, setpoint, setup } from './support.ts';

/**
 * A pending write the layer refuses with an error that is not a hardware fault (a register the device
 * does not have, a value its type cannot hold, an OPC UA node that is gone): writing it again cannot
 * succeed, so the flush drops it and says so, writes the others, and the link stays ok. Taking the refusal
 * for a fault would mask it and try again forever (ok → issue → ok → ...).
 */
const ghost: HardwareRegister = { name: 'ghost', direction: 'write' };

describe('pending writes the layer refuses', () => {
  it('are dropped and reported, one by one; the others are written and the link stays ok', async () => {
    const rt = setup();
    const dropped: unknown[] = [];
    rt.recovery.on('pendingWritesDropped', (info) => dropped.push(info));
    await inReconnect(rt);
    await rt.recovery.write(12, setpoint);
    // The simulated device has no register 'ghost': writing it throws a TypeError, not a HardwareError.
    await rt.recovery.write(7, ghost);
    await rt.recovery.write('on', pump);
    rt.hardware.repairLink();
    const faults = rt.recovery.counters.faults;

    await rt.clock.advance(500);
    await rt.clock.advance(0);
    expect(rt.recovery.state).toBe('ok');
    expect(rt.hardware.writeLog).toEqual([
      { register: 'setpoint', value: 12 },
      { register: 'pump', value: 'on' },
    ]);
    expect(dropped).toEqual([{ registers: ['ghost'], reason: 'rejected', error: expect.any(TypeError) }]);
    expect(rt.recovery.pendingWrites.size).toBe(0);
    expect(rt.recovery.counters.faults).toBe(faults);

    // Nothing is left to retry: time passes, the link stays ok, the device sees no more writes.
    const calls = rt.hardware.readWriteCalls;
    await rt.clock.advance(60_000);
    expect(rt.recovery.state).toBe('ok');
    expect(rt.hardware.readWriteCalls).toBe(calls);
  });

  it('a refused single pending write is dropped at once', async () => {
    const rt = setup();
    const dropped: unknown[] = [];
    rt.recovery.on('pendingWritesDropped', (info) => dropped.push(info));
    await inReconnect(rt);
    await rt.recovery.write(7, ghost);
    rt.hardware.repairLink();
    await rt.clock.advance(500);
    await rt.clock.advance(0);
    expect(rt.recovery.state).toBe('ok');
    expect(dropped).toEqual([{ registers: ['ghost'], reason: 'rejected', error: expect.any(TypeError) }]);
    expect(rt.hardware.writeLog).toEqual([]);
  });
});
