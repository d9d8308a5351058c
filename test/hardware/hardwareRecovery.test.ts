import { describe, expect, it } from 'vitest';
import { HardwareError, HardwareUnavailableError } from '../../src/hardware/errors.ts';
import { HardwareRecovery } from '../../src/hardware/hardwareRecovery.ts';
import type { ReconnectResult } from '../../src/hardware/hardwareRecoveryOptions.ts';
import {
  ERROR_AFTER_MS,
  inIssue,
  inReconnect,
  RECONNECT_AFTER_MS,
  setpoint,
  setup,
  simulatedDevice,
  temperature,
} from './support.ts';

describe('HardwareRecovery: connecting and disconnecting', () => {
  it('starts disconnected, and connect() takes it to ok with the status Connected', async () => {
    const rt = setup();
    const seen: string[] = [];
    rt.recovery.on('state', ({ from, to }) => seen.push(`${from}→${to}`));
    rt.recovery.on('connectionStatus', (status) => seen.push(status));
    expect(rt.recovery.state).toBe('disconnected');
    expect(rt.recovery.connectionStatus).toBe('Disconnected');
    expect(rt.recovery.isConnected).toBe(false);
    await rt.recovery.connect();
    expect(rt.recovery.state).toBe('ok');
    expect(rt.recovery.isConnected).toBe(true);
    expect(rt.hardware.isConnected).toBe(true);
    expect(seen).toEqual(['disconnected→ok', 'Connected']);
    expect(rt.recovery.registers).toBe(rt.hardware.registers);
  });

  it('starts in ok around a layer that is already connected', () => {
    const rt = setup({}, simulatedDevice(true));
    expect(rt.recovery.state).toBe('ok');
    expect(rt.recovery.connectionStatus).toBe('Connected');
  });

  it('a failed connect rejects with the layer error, stays disconnected and says so', async () => {
    const rt = setup();
    const failures: unknown[] = [];
    rt.recovery.on('connectFailed', (error) => failures.push(error));
    rt.hardware.failConnects = true;
    const error = await rt.recovery.connect().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HardwareError);
    expect(failures).toEqual([error]);
    expect(rt.recovery.state).toBe('disconnected');
    expect(rt.clock.pendingTimers).toBe(0);
    rt.hardware.failConnects = false;
    await rt.recovery.connect();
    expect(rt.recovery.state).toBe('ok');
  });

  it('connects once for concurrent connect() calls, and not at all when already connected', async () => {
    const rt = setup();
    await Promise.all([rt.recovery.connect(), rt.recovery.connect()]);
    await rt.recovery.connect();
    expect(rt.hardware.calls.connect).toBe(1);
  });

  it('disconnect() closes the layer, cancels every timer and makes reads and writes fail', async () => {
    const rt = setup();
    await inReconnect(rt);
    expect(rt.clock.pendingTimers).toBe(2); // the error timeout and the next attempt
    await rt.recovery.disconnect();
    expect(rt.recovery.state).toBe('disconnected');
    expect(rt.recovery.connectionStatus).toBe('Disconnected');
    expect(rt.hardware.isConnected).toBe(false);
    expect(rt.clock.pendingTimers).toBe(0);
    await expect(rt.recovery.write(1, setpoint)).rejects.toMatchObject({ state: 'disconnected' });
    await rt.clock.advance(ERROR_AFTER_MS);
    expect(rt.hardware.calls.connect).toBe(1);
  });

  it('a reconnect attempt under way when the engine disconnects is disowned, and undone if it succeeds', async () => {
    const rt = setup();
    await inReconnect(rt);
    rt.hardware.holdConnects();
    await rt.clock.advance(500);
    expect(rt.hardware.heldConnects).toBe(1);
    await rt.recovery.disconnect();
    rt.hardware.releaseConnects('succeed');
    await rt.clock.advance(0);
    expect(rt.recovery.state).toBe('disconnected');
    expect(rt.hardware.isConnected).toBe(false);
  });

  it('a connect under way when the engine disconnects is disowned too', async () => {
    const rt = setup();
    rt.hardware.holdConnects();
    const connecting = rt.recovery.connect();
    await rt.clock.advance(0);
    await rt.recovery.disconnect();
    rt.hardware.releaseConnects('succeed');
    await expect(connecting).rejects.toMatchObject({ operation: 'connect', state: 'disconnected' });
    await rt.clock.advance(0);
    expect(rt.recovery.state).toBe('disconnected');
    expect(rt.hardware.isConnected).toBe(false);
  });
});

describe('HardwareRecovery: the way to error and back', () => {
  it('goes ok → issue → reconnect → error on its thresholds, with a clear status all along', async () => {
    const rt = setup({ reconnectAfterMs: 2_000, errorAfterMs: 60_000 });
    const seen: string[] = [];
    rt.recovery.on('state', ({ to }) => seen.push(`${rt.clock.now() % 1_000_000}:${to}`));
    rt.recovery.on('connectionStatus', (status) => seen.push(status));
    await inIssue(rt);
    const t0 = rt.clock.now() % 1_000_000;
    await rt.clock.advance(1_999);
    expect(rt.recovery.state).toBe('issue');
    await rt.clock.advance(1);
    expect(rt.recovery.state).toBe('reconnect');
    expect(rt.recovery.connectionStatus).toBe('Connected');
    expect(rt.recovery.isConnected).toBe(false);
    await rt.clock.advance(59_999);
    expect(rt.recovery.state).toBe('reconnect');
    await rt.clock.advance(1);
    expect(rt.recovery.state).toBe('error');
    expect(rt.recovery.connectionStatus).toBe('Disconnected');
    expect(seen).toEqual([
      `${t0}:ok`,
      'Connected',
      `${t0}:issue`,
      `${t0 + 2_000}:reconnect`,
      `${t0 + 62_000}:error`,
      'Disconnected',
    ]);
  });

  it('reports every reconnect attempt and its result, and comes back to ok from error', async () => {
    const rt = setup({ errorAfterMs: 20_000, reconnectScheduleMs: [1_000, 15_000] });
    const attempts: unknown[] = [];
    const results: ReconnectResult[] = [];
    rt.recovery.on('reconnectAttempt', (a) => attempts.push(a));
    rt.recovery.on('reconnectResult', (r) => results.push(r));
    await inReconnect(rt);
    await rt.clock.advance(16_000); // attempts at 1 s and 16 s
    await rt.clock.advance(15_000); // error at 20 s; attempt at 31 s
    expect(rt.recovery.state).toBe('error');
    rt.hardware.repairLink();
    await rt.clock.advance(15_000);
    expect(rt.recovery.state).toBe('ok');
    expect(rt.recovery.connectionStatus).toBe('Connected');
    expect(attempts).toEqual([
      { attempt: 1, state: 'reconnect' },
      { attempt: 2, state: 'reconnect' },
      { attempt: 3, state: 'error' },
      { attempt: 4, state: 'error' },
    ]);
    expect(results.map((r) => r.ok)).toEqual([false, false, false, true]);
    expect(results[0]).toMatchObject({ attempt: 1, ok: false, error: expect.any(HardwareError) });
    expect(rt.clock.pendingTimers).toBe(0);
  });

  it('reconnects by disconnecting the layer before connecting it again', async () => {
    const rt = setup();
    await inReconnect(rt);
    const before = { ...rt.hardware.calls };
    rt.hardware.repairLink();
    await rt.clock.advance(500);
    expect(rt.hardware.calls.disconnect).toBe(before.disconnect + 1);
    expect(rt.hardware.calls.connect).toBe(before.connect + 1);
    expect(rt.recovery.state).toBe('ok');
  });

  it('whenUsable() resolves at once while faults are masked, and after the link comes back from error', async () => {
    const rt = setup({ errorAfterMs: 1_000, reconnectScheduleMs: [5_000] });
    await expect(Promise.race([rt.recovery.whenUsable(), settled()])).resolves.toBe('pending');
    await rt.recovery.connect();
    await rt.recovery.whenUsable();
    await inIssueFromOk(rt);
    await rt.recovery.whenUsable();
    await rt.clock.advance(RECONNECT_AFTER_MS);
    await rt.recovery.whenUsable();
    await rt.clock.advance(1_000);
    expect(rt.recovery.state).toBe('error');
    let usable = false;
    void rt.recovery.whenUsable().then(() => {
      usable = true;
    });
    await rt.clock.advance(3_999);
    expect(usable).toBe(false);
    rt.hardware.repairLink();
    await rt.clock.advance(1);
    expect(usable).toBe(true);
  });
});

describe('HardwareRecovery: commands', () => {
  it('a command that needs the hardware runs in ok and fails at once anywhere else, without running', async () => {
    const rt = setup();
    let runs = 0;
    const calibrate = () =>
      rt.recovery.runCommand(
        'calibrate',
        async () => {
          runs++;
          return 'done';
        },
        { requiresHardware: true },
      );
    await expect(calibrate()).rejects.toMatchObject({ state: 'disconnected', command: 'calibrate' });
    await rt.recovery.connect();
    await expect(calibrate()).resolves.toBe('done');
    rt.hardware.breakLink();
    await rt.recovery.read(temperature);
    const error = await calibrate().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HardwareUnavailableError);
    expect((error as Error).message).toBe(
      "command 'calibrate' needs the hardware: hardware 'reactor' is in state issue (faults are masked while it recovers)",
    );
    await rt.clock.advance(RECONNECT_AFTER_MS);
    await expect(calibrate()).rejects.toMatchObject({ state: 'reconnect' });
    expect(runs).toBe(1);
  });

  it('a command that does not need the hardware runs in any state, and its errors pass through', async () => {
    const rt = setup();
    await expect(rt.recovery.runCommand('note', () => 42)).resolves.toBe(42);
    await expect(
      rt.recovery.runCommand('fail', () => {
        throw new Error('command failed');
      }),
    ).rejects.toThrow('command failed');
  });
});

describe('HardwareRecovery: the machine in the inspector', () => {
  it('passes inspection events to the given inspector', async () => {
    const events: string[] = [];
    const recovery = new HardwareRecovery(simulatedDevice(), { inspect: (e) => events.push(e.type) });
    await recovery.connect();
    expect(events).toContain('@xstate.event');
    expect(events).toContain('@xstate.snapshot');
  });
});

async function inIssueFromOk(rt: ReturnType<typeof setup>): Promise<void> {
  rt.hardware.breakLink();
  await rt.recovery.read(temperature);
  expect(rt.recovery.state).toBe('issue');
}

async function settled(): Promise<'pending'> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  return 'pending';
}
