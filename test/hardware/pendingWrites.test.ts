import { describe, expect, it } from 'vitest';
import { PendingWrites } from '../../src/hardware/pendingWrites.ts';
import type { HardwareRegister, HardwareValue } from '../../src/hardware/register.ts';
import { SimulatedHardware } from '../../src/hardware/simulatedHardware.ts';
import {
  ERROR_AFTER_MS,
  inIssue,
  inReconnect,
  pump,
  setpoint,
  setup,
  simulatedDevice,
  temperature,
  valve,
} from './support.ts';

function written(hardware: SimulatedHardware): Array<[string, HardwareValue]> {
  return hardware.writeLog.map((w) => [w.register, w.value]);
}

describe('pending writes', () => {
  it('keeps a failed write in issue, the latest value per register, and reports it as masked', async () => {
    const rt = setup();
    await inIssue(rt);
    await rt.recovery.write(10, setpoint);
    await rt.recovery.write(true, valve);
    await rt.recovery.write(11, setpoint);
    expect([...rt.recovery.pendingWrites]).toEqual([
      ['valve', true],
      ['setpoint', 11],
    ]);
    expect(rt.hardware.calls.write).toBe(3);
    expect(rt.hardware.writeLog).toEqual([]);
  });

  it('writes them after the next successful write, in the order their latest values were asked for', async () => {
    const rt = setup();
    await inIssue(rt);
    await rt.recovery.write(10, setpoint);
    await rt.recovery.write(true, valve);
    await rt.recovery.write(11, setpoint);
    rt.hardware.repairLink();
    await rt.recovery.write('on', pump);
    await rt.clock.advance(0);
    expect(rt.recovery.state).toBe('ok');
    expect(written(rt.hardware)).toEqual([
      ['pump', 'on'],
      ['valve', true],
      ['setpoint', 11],
    ]);
    expect(rt.recovery.pendingWrites.size).toBe(0);
  });

  it('writes them after the next successful read', async () => {
    const rt = setup();
    const flushed: Array<readonly string[]> = [];
    rt.recovery.on('pendingWritesFlushed', (registers) => flushed.push(registers));
    await inIssue(rt);
    await rt.recovery.writeBatch([5, 'on'], [setpoint, pump]);
    rt.hardware.repairLink();
    await rt.recovery.read(temperature);
    await rt.clock.advance(0);
    expect(written(rt.hardware)).toEqual([
      ['setpoint', 5],
      ['pump', 'on'],
    ]);
    expect(flushed).toEqual([['setpoint', 'pump']]);
  });

  it('a newer write of the same register replaces the pending one: the old value never reaches the hardware', async () => {
    const rt = setup();
    await inIssue(rt);
    await rt.recovery.write(10, setpoint);
    rt.hardware.repairLink();
    await rt.recovery.write(20, setpoint);
    await rt.clock.advance(0);
    expect(written(rt.hardware)).toEqual([['setpoint', 20]]);
    expect(rt.hardware.value('setpoint')).toBe(20);
  });

  it('in reconnect, writes do not touch the hardware and are written after the reconnect', async () => {
    const rt = setup();
    await inReconnect(rt);
    rt.hardware.holdConnects();
    const before = rt.hardware.readWriteCalls;
    await rt.recovery.write(1, setpoint);
    await rt.recovery.writeBatch([2, 'on'], [setpoint, pump]);
    expect(rt.hardware.readWriteCalls).toBe(before);
    await rt.clock.advance(500);
    expect(rt.hardware.heldConnects).toBe(1);
    rt.hardware.repairLink();
    rt.hardware.releaseConnects('succeed');
    await rt.clock.advance(0);
    expect(rt.recovery.state).toBe('ok');
    expect(written(rt.hardware)).toEqual([
      ['setpoint', 2],
      ['pump', 'on'],
    ]);
  });

  it('stay pending when writing them fails again, and the link goes back to issue', async () => {
    const rt = setup();
    await inIssue(rt);
    await rt.recovery.write(7, setpoint);
    rt.hardware.failReads = false; // reads work again, writes do not
    await rt.recovery.read(temperature);
    await rt.clock.advance(0);
    expect(rt.recovery.state).toBe('issue');
    expect([...rt.recovery.pendingWrites]).toEqual([['setpoint', 7]]);
    rt.hardware.failWrites = false;
    await rt.recovery.read(temperature);
    await rt.clock.advance(0);
    expect(written(rt.hardware)).toEqual([['setpoint', 7]]);
  });

  it('are dropped, and reported, when the link enters error: the engine now knows the writes failed', async () => {
    const rt = setup({ reconnectScheduleMs: [60_000] });
    const dropped: unknown[] = [];
    rt.recovery.on('pendingWritesDropped', (info) => dropped.push(info));
    await inIssue(rt);
    await rt.recovery.writeBatch([3, 'on'], [setpoint, pump]);
    await rt.clock.advance(10_000 + ERROR_AFTER_MS);
    expect(rt.recovery.state).toBe('error');
    expect(rt.recovery.pendingWrites.size).toBe(0);
    expect(dropped).toEqual([{ registers: ['setpoint', 'pump'], reason: 'error' }]);
    await expect(rt.recovery.write(4, setpoint)).rejects.toMatchObject({
      name: 'HardwareUnavailableError',
      state: 'error',
      register: 'setpoint',
      operation: 'write',
    });
    rt.hardware.repairLink();
    await rt.clock.advance(60_000);
    expect(rt.recovery.state).toBe('ok');
    expect(rt.hardware.writeLog).toEqual([]);
  });

  it('are dropped when the engine disconnects', async () => {
    const rt = setup();
    const dropped: unknown[] = [];
    rt.recovery.on('pendingWritesDropped', (info) => dropped.push(info));
    await inIssue(rt);
    await rt.recovery.write(3, setpoint);
    await rt.recovery.disconnect();
    expect(dropped).toEqual([{ registers: ['setpoint'], reason: 'disconnected' }]);
  });

  it('a write asked for while pending writes are being written joins them, so the hardware sees every value in order', async () => {
    const hardware = new GatedHardware();
    const rt = setup({}, hardware);
    await inIssue(rt);
    await rt.recovery.write(1, setpoint);
    hardware.repairLink();
    hardware.gate = true;
    await rt.recovery.read(temperature);
    await rt.clock.advance(0);
    expect(hardware.gated).toBe(1); // the flush of setpoint = 1 is under way
    await rt.recovery.write(2, setpoint);
    await rt.recovery.write('on', pump);
    expect([...rt.recovery.pendingWrites]).toEqual([
      ['setpoint', 2],
      ['pump', 'on'],
    ]);
    hardware.gate = false;
    hardware.open();
    await rt.clock.advance(0);
    expect(written(hardware)).toEqual([
      ['setpoint', 1],
      ['setpoint', 2],
      ['pump', 'on'],
    ]);
    expect(rt.recovery.pendingWrites.size).toBe(0);
  });
});

/** A simulated device whose batch writes wait for `open()` while `gate` is set. */
class GatedHardware extends SimulatedHardware {
  gate = false;
  private waiting: Array<() => void> = [];

  constructor() {
    const device = simulatedDevice();
    super([...device.registers.values()].map((r) => ({ ...r, value: device.value(r.name) })));
  }

  get gated(): number {
    return this.waiting.length;
  }

  open(): void {
    for (const go of this.waiting.splice(0)) go();
  }

  override async writeBatch(values: readonly HardwareValue[], registers: readonly HardwareRegister[]) {
    if (this.gate) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return super.writeBatch(values, registers);
  }

  override async write(value: HardwareValue, register: HardwareRegister) {
    if (this.gate) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return super.write(value, register);
  }
}

describe('PendingWrites', () => {
  const w = (register: HardwareRegister, value: HardwareValue, serial: number) => ({
    register,
    value,
    serial,
  });

  it('keeps the latest write per register, ordered by when the latest was asked for', () => {
    const pending = new PendingWrites();
    pending.set(w(setpoint, 1, 1));
    pending.set(w(pump, 'on', 2));
    pending.set(w(setpoint, 2, 3));
    expect([...pending.snapshot()]).toEqual([
      ['pump', 'on'],
      ['setpoint', 2],
    ]);
    expect(pending.get('setpoint')?.serial).toBe(3);
  });

  it('restores writes that could not be written ahead of newer ones, unless their register has a newer one', () => {
    const pending = new PendingWrites();
    pending.set(w(setpoint, 1, 1));
    pending.set(w(pump, 'on', 2));
    const taken = pending.takeAll();
    expect(pending.size).toBe(0);
    pending.set(w(valve, true, 3));
    pending.set(w(setpoint, 5, 4));
    pending.restore(taken);
    expect([...pending.snapshot()]).toEqual([
      ['pump', 'on'],
      ['valve', true],
      ['setpoint', 5],
    ]);
  });
});
