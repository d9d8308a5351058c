import { describe, expect, it } from 'vitest';
import { HardwareUnavailableError, RegisterDirectionError } from '../../src/hardware/errors.ts';
import type { HardwareFault } from '../../src/hardware/hardwareRecoveryOptions.ts';
import { ERROR_AFTER_MS, inIssue, pressure, setup, temperature, valve } from './support.ts';

describe('masking failed reads with last-known-good values', () => {
  it('in issue, a failed read returns the value last read from that register', async () => {
    const rt = setup();
    await rt.recovery.connect();
    expect(await rt.recovery.read(temperature)).toBe(21.5);
    expect(await rt.recovery.readBatch([temperature, pressure])).toEqual([21.5, 1.2]);
    rt.hardware.setValue('temperature', 30);
    rt.hardware.breakLink();
    const faults: HardwareFault[] = [];
    rt.recovery.on('fault', (fault) => faults.push(fault));

    expect(await rt.recovery.read(temperature)).toBe(21.5);
    expect(rt.recovery.state).toBe('issue');
    expect(await rt.recovery.readBatch([pressure, temperature])).toEqual([1.2, 21.5]);
    expect(rt.hardware.calls.read).toBe(2);
    expect(rt.hardware.calls.readBatch).toBe(2);
    expect(rt.recovery.counters).toMatchObject({ maskedReads: 3, faults: 2 });
    expect(faults.map((f) => [f.operation, f.registers, f.masked])).toEqual([
      ['read', ['temperature'], true],
      ['read', ['pressure', 'temperature'], true],
    ]);
    expect(rt.recovery.connectionStatus).toBe('Connected');
  });

  it('a successful read in issue returns the real value and the link to ok', async () => {
    const rt = setup();
    await inIssue(rt);
    rt.hardware.repairLink();
    rt.hardware.setValue('temperature', 25);
    expect(await rt.recovery.read(temperature)).toBe(25);
    expect(rt.recovery.state).toBe('ok');
    expect(rt.clock.pendingTimers).toBe(0);
  });

  it('in reconnect, reads return last-known-good values without touching the hardware', async () => {
    const rt = setup();
    await rt.recovery.connect();
    await rt.recovery.readBatch([temperature, pressure]);
    rt.hardware.breakLink();
    await rt.recovery.read(temperature);
    await rt.clock.advance(10_000);
    expect(rt.recovery.state).toBe('reconnect');
    rt.hardware.repairLink(); // reads would succeed now, but must not be tried
    rt.hardware.holdConnects();
    const before = rt.hardware.readWriteCalls;
    expect(await rt.recovery.read(temperature)).toBe(21.5);
    expect(await rt.recovery.readBatch([pressure, temperature])).toEqual([1.2, 21.5]);
    expect(rt.hardware.readWriteCalls).toBe(before);
    expect(rt.recovery.state).toBe('reconnect');
  });

  it('says once per register, clearly, when there is no last-known-good value, and returns null', async () => {
    const rt = setup();
    const reports: Array<{ register: string; state: string }> = [];
    rt.recovery.on('noLastKnownGood', (info) => reports.push(info));
    await rt.recovery.connect();
    rt.hardware.breakLink();
    expect(await rt.recovery.read(temperature)).toBeNull();
    expect(await rt.recovery.read(temperature)).toBeNull();
    expect(await rt.recovery.readBatch([temperature, pressure])).toEqual([null, null]);
    expect(reports).toEqual([
      { register: 'temperature', state: 'issue' },
      { register: 'pressure', state: 'issue' },
    ]);
  });

  it('does not mask in error: reads fail with a typed error naming the state and the register', async () => {
    const rt = setup();
    await rt.recovery.connect();
    await rt.recovery.read(temperature);
    await inReconnectFromHere(rt);
    await rt.clock.advance(ERROR_AFTER_MS);
    expect(rt.recovery.state).toBe('error');
    const before = rt.hardware.readWriteCalls;
    const error = await rt.recovery.read(temperature).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HardwareUnavailableError);
    expect(error).toMatchObject({
      state: 'error',
      register: 'temperature',
      operation: 'read',
      hardware: 'reactor',
    });
    expect((error as Error).message).toBe(
      "cannot read 'temperature': hardware 'reactor' is in state error (reconnecting has not succeeded; faults are no longer masked)",
    );
    await expect(rt.recovery.readBatch([temperature, pressure])).rejects.toMatchObject({
      registers: ['temperature', 'pressure'],
    });
    expect(rt.hardware.readWriteCalls).toBe(before);
  });

  it('forgets last-known-good values in error: after the link is back, a new fault masks with null', async () => {
    const rt = setup({ errorAfterMs: 60_000, reconnectScheduleMs: [1_000] });
    await rt.recovery.connect();
    await rt.recovery.read(temperature);
    await inReconnectFromHere(rt);
    await rt.clock.advance(60_000);
    expect(rt.recovery.state).toBe('error');
    rt.hardware.repairLink();
    await rt.clock.advance(1_000);
    expect(rt.recovery.state).toBe('ok');
    rt.hardware.breakLink();
    expect(await rt.recovery.read(temperature)).toBeNull();
  });

  it('fails at once in disconnected, before any connect', async () => {
    const rt = setup();
    await expect(rt.recovery.read(temperature)).rejects.toMatchObject({
      name: 'HardwareUnavailableError',
      state: 'disconnected',
      register: 'temperature',
    });
    expect(rt.hardware.readWriteCalls).toBe(0);
  });

  it('never masks a register read the wrong way, nor an error that is not a hardware fault', async () => {
    const rt = setup();
    await rt.recovery.connect();
    await expect(rt.recovery.read(valve)).rejects.toBeInstanceOf(RegisterDirectionError);
    await expect(rt.recovery.readBatch([temperature, valve])).rejects.toThrow(
      "register 'valve' cannot be read",
    );
    rt.hardware.read = async () => {
      throw new TypeError('bug in the driver');
    };
    await expect(rt.recovery.read(temperature)).rejects.toThrow('bug in the driver');
    expect(rt.recovery.state).toBe('ok');
    expect(rt.recovery.counters.faults).toBe(0);
  });

  it('lets the engine say what a hardware fault is', async () => {
    const rt = setup({ isHardwareFault: (error) => error instanceof Error && /timeout/.test(error.message) });
    await rt.recovery.connect();
    await rt.recovery.read(temperature);
    rt.hardware.read = async () => {
      throw new Error('modbus timeout');
    };
    expect(await rt.recovery.read(temperature)).toBe(21.5);
    expect(rt.recovery.state).toBe('issue');
  });

  it('keeps the issue clock running through further faults: reconnect 10 s after the first', async () => {
    const rt = setup();
    await inIssue(rt);
    await rt.clock.advance(9_000);
    await rt.recovery.read(temperature);
    await rt.clock.advance(999);
    expect(rt.recovery.state).toBe('issue');
    await rt.clock.advance(1);
    expect(rt.recovery.state).toBe('reconnect');
  });
});

/** From ok with the link healthy: break it, fail a read, wait 10 s. */
async function inReconnectFromHere(rt: ReturnType<typeof setup>): Promise<void> {
  rt.hardware.breakLink();
  await rt.recovery.read(temperature);
  await rt.clock.advance(10_000);
  expect(rt.recovery.state).toBe('reconnect');
}
