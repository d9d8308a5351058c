import { describe, expect, it } from 'vitest';
import { HardwareUnavailableError, RegisterDirectionError } from '../../src/hardware/errors.ts';
import type { HardwareFault } from '../../src/hardware/hardwareRecoveryOptions.ts';
import { inIssue, inReconnect, pump, setpoint, setup, temperature, valve } from './support.ts';

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

  it('names the option it refuses', () => {
    expect(() => setup({ reconnectAfterMs: -1 })).toThrow(/^reconnectAfterMs must be/);
    expect(() => setup({ errorAfterMs: Number.NaN })).toThrow(/^errorAfterMs must be/);
  });

  it('a batch read says what it was refused, passes on an error that is no fault, and ends an issue', async () => {
    const rt = setup({ isHardwareFault: (error) => !(error instanceof Error && /bug/.test(error.message)) });
    await expect(rt.recovery.readBatch([temperature])).rejects.toMatchObject({
      constructor: HardwareUnavailableError,
      operation: 'read',
      registers: ['temperature'],
    });
    await rt.recovery.connect();
    rt.hardware.readBatch = async () => {
      throw new Error('a bug');
    };
    await expect(rt.recovery.readBatch([temperature])).rejects.toThrow('a bug');
    expect(rt.recovery.state).toBe('ok');
    delete (rt.hardware as Partial<typeof rt.hardware>).readBatch;
    await inIssue(rt);
    rt.hardware.repairLink();
    expect(await rt.recovery.readBatch([temperature])).toEqual([21.5]);
    expect(rt.recovery.state).toBe('ok');
  });

  it('a write to a register that cannot be written says it was a write', async () => {
    const rt = setup();
    await rt.recovery.connect();
    await expect(rt.recovery.write(1, temperature)).rejects.toMatchObject({
      constructor: RegisterDirectionError,
      operation: 'write',
      register: 'temperature',
    });
  });

  it('pending writes dropped on a disconnect are told once, by name; nothing is told when none are pending', async () => {
    const rt = setup();
    const dropped: Array<{ registers: readonly string[]; reason: string }> = [];
    const statuses: string[] = [];
    rt.recovery.on('pendingWritesDropped', (event) => dropped.push(event));
    rt.recovery.on('connectionStatus', (status) => statuses.push(status));
    await inReconnect(rt);
    await rt.recovery.write(12, setpoint);
    await rt.recovery.disconnect();
    expect(dropped).toEqual([{ registers: ['setpoint'], reason: 'disconnected' }]);
    rt.hardware.repairLink();
    rt.hardware.failConnects = false;
    await rt.recovery.connect();
    await rt.recovery.disconnect();
    await rt.recovery.disconnect();
    expect(dropped).toHaveLength(1);
    // Each change of status told once.
    expect(statuses).toEqual(['Connected', 'Disconnected', 'Connected', 'Disconnected']);
  });

  it('a disowned connect that fails is no failure of the link: nothing is told but to its caller', async () => {
    const rt = setup();
    const told: unknown[] = [];
    rt.recovery.on('connectFailed', (error) => told.push(error));
    rt.hardware.holdConnects();
    const connecting = rt.recovery.connect();
    await rt.clock.advance(0);
    await rt.recovery.disconnect();
    rt.hardware.releaseConnects('fail');
    await expect(connecting).rejects.toThrow('simulated connect failure');
    await rt.clock.advance(0);
    expect(told).toEqual([]);
    expect(rt.recovery.state).toBe('disconnected');
  });

  it('a disowned reconnect attempt that fails is not told as a result', async () => {
    const rt = setup();
    const results: Array<{ attempt: number; ok: boolean }> = [];
    rt.recovery.on('reconnectResult', ({ attempt, ok }) => results.push({ attempt, ok }));
    await inReconnect(rt);
    rt.hardware.holdConnects();
    await rt.clock.advance(500);
    expect(rt.hardware.heldConnects).toBe(1);
    await rt.recovery.disconnect();
    rt.hardware.releaseConnects('fail');
    await rt.clock.advance(0);
    expect(results).toEqual([]);
    expect(rt.recovery.state).toBe('disconnected');
  });

  it('a disowned reconnect that succeeds once the engine has connected again leaves that connection alone', async () => {
    const rt = setup();
    await inReconnect(rt);
    rt.hardware.holdConnects();
    await rt.clock.advance(500);
    expect(rt.hardware.heldConnects).toBe(1);
    await rt.recovery.disconnect();
    // The engine connects again (at once), then the attempt it gave up on succeeds after all.
    rt.hardware.holdConnects(false);
    rt.hardware.repairLink();
    await rt.recovery.connect();
    expect(rt.recovery.state).toBe('ok');
    rt.hardware.releaseConnects('succeed');
    await rt.clock.advance(0);
    expect(rt.recovery.state).toBe('ok');
    expect(rt.hardware.isConnected).toBe(true);
    expect(await rt.recovery.read(temperature)).toBe(21.5);
  });
});
