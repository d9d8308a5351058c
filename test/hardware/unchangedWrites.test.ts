import { describe, expect, it } from 'vitest';
import type { HardwareRegister } from '../../src/hardware/register.ts';
import { sameValue } from '../../src/hardware/sameValue.ts';

import { inIssue, pump, setpoint, setup, temperature, valve } from './support.ts';

describe('sameValue', () => {
  it('compares numbers within the tolerance and everything else exactly', () => {
    expect(sameValue(0.1 + 0.2, 0.3, 1e-9)).toBe(true);
    expect(sameValue(0.3, 0.3001, 1e-9)).toBe(false);
    expect(sameValue(10, 10.5, 0.5)).toBe(true);
    expect(sameValue(10, 10.51, 0.5)).toBe(false);
    expect(sameValue(Number.NaN, Number.NaN, 1)).toBe(false);
    expect(sameValue('on', 'on', 0)).toBe(true);
    expect(sameValue('on', 'On', 0)).toBe(false);
    expect(sameValue(true, true, 0)).toBe(true);
    expect(sameValue(1, true, 1)).toBe(false);
    expect(sameValue(0, null, 1)).toBe(false);
    expect(sameValue(null, null, 0)).toBe(true);
  });
});

describe('the unchanged-value filter', () => {
  it('skips a write of the value last written to the register', async () => {
    const rt = setup();
    await rt.recovery.connect();
    await rt.recovery.write(5, setpoint);
    await rt.recovery.write(5, setpoint);
    await rt.recovery.write('on', pump);
    await rt.recovery.write('on', pump);
    await rt.recovery.write(6, setpoint);
    expect(rt.hardware.calls.write).toBe(3);
    expect(rt.recovery.counters.skippedWrites).toBe(2);
  });

  it('compares floats with a tolerance: the default, the option, or the register own', async () => {
    const loose: HardwareRegister = { name: 'setpoint', direction: 'readWrite', tolerance: 0.5 };
    const rt = setup();
    await rt.recovery.connect();
    await rt.recovery.write(0.1 + 0.2, setpoint);
    await rt.recovery.write(0.3, setpoint);
    expect(rt.hardware.calls.write).toBe(1);
    await rt.recovery.write(0.3001, setpoint);
    expect(rt.hardware.calls.write).toBe(2);
    await rt.recovery.write(0.7, loose);
    await rt.recovery.write(0.3001 + 0.5 + 0.3, loose); // 1.1001 vs 0.7
    expect(rt.hardware.calls.write).toBe(3);
    await rt.recovery.write(1.2, loose);
    expect(rt.hardware.calls.write).toBe(3);

    const coarse = setup({ floatTolerance: 0.01 });
    await coarse.recovery.connect();
    await coarse.recovery.write(1, setpoint);
    await coarse.recovery.write(1.005, setpoint);
    expect(coarse.hardware.calls.write).toBe(1);
  });

  it('can be turned off', async () => {
    const rt = setup({ skipUnchangedWrites: false });
    await rt.recovery.connect();
    for (let i = 0; i < 3; i++) await rt.recovery.write(5, setpoint);
    expect(rt.hardware.calls.write).toBe(3);
    expect(rt.recovery.counters.skippedWrites).toBe(0);
  });

  it('writes only the changed registers of a batch, and nothing when none changed', async () => {
    const rt = setup();
    await rt.recovery.connect();
    await rt.recovery.writeBatch([1, 'on', true], [setpoint, pump, valve]);
    await rt.recovery.writeBatch([1, 'off', true], [setpoint, pump, valve]);
    await rt.recovery.writeBatch([1, 'off', true], [setpoint, pump, valve]);
    expect(rt.hardware.writeLog.map((w) => [w.register, w.value])).toEqual([
      ['setpoint', 1],
      ['pump', 'on'],
      ['valve', true],
      ['pump', 'off'],
    ]);
    expect(rt.hardware.calls.writeBatch + rt.hardware.calls.write).toBe(2);
  });

  it('compares with the last write that succeeded: a failed one does not count', async () => {
    const rt = setup();
    await inIssue(rt);
    await rt.recovery.write(5, setpoint);
    rt.hardware.repairLink();
    await rt.recovery.write(5, setpoint);
    await rt.clock.advance(0);
    expect(rt.hardware.writeLog.map((w) => w.value)).toEqual([5]);
  });

  it('after a failed write the register is unknown: writing the old value again is not skipped', async () => {
    const rt = setup();
    await rt.recovery.connect();
    await rt.recovery.write(1, setpoint);
    rt.hardware.breakLink();
    await rt.recovery.write(2, setpoint); // may or may not have reached the device
    expect(rt.recovery.pendingWrites.get('setpoint')).toBe(2);
    await rt.recovery.write(1, setpoint);
    expect(rt.recovery.pendingWrites.get('setpoint')).toBe(1);
    expect(rt.recovery.counters.skippedWrites).toBe(0);
    rt.hardware.repairLink();
    await rt.recovery.write('on', pump);
    await rt.clock.advance(0);
    expect(rt.hardware.writeLog.map((w) => [w.register, w.value])).toEqual([
      ['setpoint', 1],
      ['pump', 'on'],
      ['setpoint', 1],
    ]);
  });

  it('lets the first write of every register through after a reconnect: the device may have restarted', async () => {
    const rt = setup();
    await rt.recovery.connect();
    await rt.recovery.write(5, setpoint);
    rt.hardware.breakLink();
    await rt.recovery.read(temperature);
    await rt.clock.advance(10_000);
    expect(rt.recovery.state).toBe('reconnect');
    rt.hardware.repairLink();
    await rt.clock.advance(500);
    expect(rt.recovery.state).toBe('ok');
    rt.hardware.setValue('setpoint', 0); // what a restarted device holds
    await rt.recovery.write(5, setpoint);
    expect(rt.hardware.value('setpoint')).toBe(5);
    await rt.recovery.write(5, setpoint);
    expect(rt.hardware.calls.write).toBe(2);
  });
});
