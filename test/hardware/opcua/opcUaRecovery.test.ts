import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HardwareUnavailableError } from '../../../src/hardware/errors.ts';
import type { ReconnectResult } from '../../../src/hardware/hardwareRecoveryOptions.ts';
import { SIM_TAGS } from '../../../src/hardware/opcua/index.ts';
import { nextEvent } from '../../support/until.ts';
import {
  fastRecovery,
  jacketTemperature,
  pumpSpeed,
  reaches,
  recordStates,
  SimProcess,
  setpoint,
  simLayer,
} from './support.ts';

/**
 * HardwareRecovery around the OPC UA layer, with `engine-link opcua-sim` as its own process killed
 * (SIGKILL) and restarted on the same port: the recovery goes ok → issue → reconnect → ok, serves
 * last-known-good values meanwhile and writes the pending setpoint once, after the link is back; past the
 * error threshold it drops pending writes and says so; unchanged writes never reach the server.
 */
const sim = new SimProcess();
const cleanup: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  if (!sim.process || sim.process.child.exitCode !== null || sim.process.child.signalCode !== null)
    await sim.start();
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});
afterAll(() => sim.kill());

function recovered(options: { errorAfterMs?: number } = {}) {
  const layer = simLayer(sim.url);
  const recovery = fastRecovery(layer, options);
  cleanup.push(() => recovery.disconnect());
  return { layer, recovery };
}

describe('HardwareRecovery over OPC UA, the server process killed and restarted', () => {
  it('ok → issue → reconnect → ok: last-known-good values meanwhile, the pending setpoint written once after the link is back', async () => {
    const { layer, recovery } = recovered();
    const states = recordStates(recovery);
    const reconnects: ReconnectResult[] = [];
    recovery.on('reconnectResult', (result) => reconnects.push(result));
    await recovery.connect();
    await recovery.write(40, setpoint);
    await sim.nextWrite('Setpoint', 40);
    const good = await recovery.readBatch([jacketTemperature, setpoint]);
    expect(good[1]).toBe(40);

    const lost = nextEvent(layer, 'linkLost');
    await sim.kill();
    await lost;
    // The first read after the loss fails at once: issue, and the last-known-good values stand in.
    expect(await recovery.readBatch([jacketTemperature, setpoint])).toEqual(good);
    expect(recovery.state).toBe('issue');
    await recovery.write(44, setpoint);
    expect(recovery.pendingWrites).toEqual(new Map([['setpoint', 44]]));

    await reaches(recovery, 'reconnect');
    expect(await recovery.read(setpoint)).toBe(40);
    await recovery.write(45, setpoint);
    expect(recovery.pendingWrites).toEqual(new Map([['setpoint', 45]]));
    expect(recovery.connectionStatus).toBe('Connected');
    // Reconnect attempts fail while the server is down (they are retried, not given up).
    await nextEvent<ReconnectResult>(recovery, 'reconnectResult', (result) => !result.ok);

    const flushed = nextEvent<readonly string[]>(recovery, 'pendingWritesFlushed');
    await sim.start();
    await reaches(recovery, 'ok');
    expect(await flushed).toEqual(['setpoint']);
    expect(await sim.nextWrite('Setpoint', 45)).toMatchObject({ count: 1 });
    expect(await recovery.read(setpoint)).toBe(45);
    // A later write's line comes after any duplicate of the flush would have: there is none, and 44 never went.
    await recovery.write(130, pumpSpeed);
    await sim.nextWrite('PumpSpeed', 130);
    expect(sim.writes('Setpoint').map((w) => w.value)).toEqual([45]);
    expect(states).toEqual(['ok', 'issue', 'reconnect', 'ok']);
    expect(reconnects.at(-1)).toMatchObject({ ok: true });
    expect(recovery.pendingWrites.size).toBe(0);
  });

  it('past the error threshold: error, pending writes dropped and reported, never written when the server returns', async () => {
    const { layer, recovery } = recovered({ errorAfterMs: 800 });
    const states = recordStates(recovery);
    await recovery.connect();
    await recovery.read(setpoint);

    const lost = nextEvent(layer, 'linkLost');
    await sim.kill();
    await lost;
    await recovery.write(50, setpoint);
    expect(recovery.pendingWrites.get('setpoint')).toBe(50);

    const dropped = nextEvent(recovery, 'pendingWritesDropped');
    await reaches(recovery, 'error');
    expect(await dropped).toEqual({ registers: ['setpoint'], reason: 'error' });
    expect(recovery.pendingWrites.size).toBe(0);
    expect(recovery.connectionStatus).toBe('Disconnected');
    await expect(recovery.read(setpoint)).rejects.toBeInstanceOf(HardwareUnavailableError);
    await expect(recovery.write(51, setpoint)).rejects.toBeInstanceOf(HardwareUnavailableError);

    // Reconnecting goes on in error; the dropped setpoint is not written to the server that came back.
    await sim.start();
    await reaches(recovery, 'ok');
    expect(await recovery.read(setpoint)).toBe(SIM_TAGS.setpoint.initial);
    await recovery.write(131, pumpSpeed);
    await sim.nextWrite('PumpSpeed', 131);
    expect(sim.writes('Setpoint')).toEqual([]);
    expect(states).toEqual(['ok', 'issue', 'reconnect', 'error', 'ok']);

    // Disconnecting is idempotent, and so is the layer's, whatever happened to the link before.
    await Promise.all([recovery.disconnect(), recovery.disconnect()]);
    await layer.disconnect();
    expect(recovery.state).toBe('disconnected');
  });

  it('an unchanged write is skipped: the server sees the setpoint once', async () => {
    const { recovery } = recovered();
    await recovery.connect();
    const before = sim.writes('Setpoint').length;
    await recovery.write(41, setpoint);
    await sim.nextWrite('Setpoint', 41);
    await recovery.write(41, setpoint);
    await recovery.write(41 + 1e-12, setpoint);
    expect(recovery.counters.skippedWrites).toBe(2);
    await recovery.write(132, pumpSpeed);
    await sim.nextWrite('PumpSpeed', 132);
    expect(
      sim
        .writes('Setpoint')
        .slice(before)
        .map((w) => w.value),
    ).toEqual([41]);
  });
});
