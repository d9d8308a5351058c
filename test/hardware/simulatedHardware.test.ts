import { describe, expect, it } from 'vitest';
import { HardwareError, RegisterDirectionError } from '../../src/hardware/errors.ts';
import { SimulatedHardware } from '../../src/hardware/simulatedHardware.ts';
import { pump, setpoint, simulatedDevice, temperature, valve } from './support.ts';

describe('SimulatedHardware', () => {
  it('holds register values, reads and writes them once connected, and counts every call', async () => {
    const hw = simulatedDevice();
    await expect(hw.read(temperature)).rejects.toThrow('not connected');
    await hw.connect();
    expect(hw.isConnected).toBe(true);
    expect(await hw.read(temperature)).toBe(21.5);
    await hw.write(4, setpoint);
    await hw.writeBatch([true, 'on'], [valve, pump]);
    expect(await hw.readBatch([setpoint, pump])).toEqual([4, 'on']);
    expect(hw.calls).toEqual({ connect: 1, disconnect: 0, read: 2, readBatch: 1, write: 1, writeBatch: 1 });
    expect(hw.readWriteCalls).toBe(5);
    expect(hw.writeLog).toEqual([
      { register: 'setpoint', value: 4 },
      { register: 'valve', value: true },
      { register: 'pump', value: 'on' },
    ]);
    hw.setValue('temperature', 30);
    expect(hw.value('temperature')).toBe(30);
    expect(hw.readWriteCalls).toBe(5);
    await hw.disconnect();
    expect(hw.isConnected).toBe(false);
  });

  it('fails reads, writes and connects on demand with a HardwareError', async () => {
    const hw = simulatedDevice(true);
    hw.failReads = true;
    await expect(hw.read(temperature)).rejects.toBeInstanceOf(HardwareError);
    await hw.write(1, setpoint);
    hw.failWrites = true;
    await expect(hw.writeBatch([2], [setpoint])).rejects.toBeInstanceOf(HardwareError);
    expect(hw.value('setpoint')).toBe(1);
    hw.repairLink();
    hw.breakLink();
    await expect(hw.connect()).rejects.toThrow('simulated connect failure');
    expect(hw.calls.connect).toBe(1);
    hw.repairLink();
    await hw.connect();
    expect(await hw.read(setpoint)).toBe(1);
  });

  it('holds connects until they are released, to succeed or to fail', async () => {
    const hw = simulatedDevice();
    hw.holdConnects();
    const first = hw.connect();
    const second = hw.connect();
    expect(hw.heldConnects).toBe(2);
    expect(hw.isConnected).toBe(false);
    expect(hw.releaseConnects('fail')).toBe(2);
    await expect(first).rejects.toBeInstanceOf(HardwareError);
    await expect(second).rejects.toBeInstanceOf(HardwareError);
    const third = hw.connect();
    expect(hw.releaseConnects('succeed')).toBe(1);
    await third;
    expect(hw.isConnected).toBe(true);
    hw.holdConnects(false);
    await hw.connect();
    expect(hw.heldConnects).toBe(0);
  });

  it('refuses registers it does not have, or used against their direction', async () => {
    const hw = simulatedDevice(true);
    await expect(hw.read({ name: 'nope', direction: 'read' })).rejects.toThrow("unknown register 'nope'");
    await expect(hw.write(1, temperature)).rejects.toBeInstanceOf(RegisterDirectionError);
    await expect(hw.read(valve)).rejects.toBeInstanceOf(RegisterDirectionError);
    await expect(hw.writeBatch([1, 2], [setpoint])).rejects.toThrow(RangeError);
    expect(() => new SimulatedHardware([temperature, temperature])).toThrow('duplicate register');
  });
});
