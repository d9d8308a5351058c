import { afterEach, describe, expect, it } from 'vitest';
import {
  type HardwareConfigurationError,
  OpcUaSimServer,
  SIM_TAGS,
} from '../../../src/hardware/opcua/index.ts';
import { nextEvent } from '../../support/until.ts';
import {
  fastRecovery,
  jacketTemperature,
  pumpSpeed,
  reaches,
  setpoint,
  simLayer,
  tempDir,
} from './support.ts';

/**
 * A server that comes back with another address space (here: without the setpoint node). The layer's
 * reconnect does not fail for it: the missing register fails with a configuration error when used (never
 * masked, the link stays ok), its pending write is dropped as rejected, and the other registers work.
 * The servers run in this process (OpcUaSimServer, the class behind `engine-link opcua-sim`): the
 * process-level tests are in opcUaRecovery.test.ts.
 */
const stops: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function server(options: ConstructorParameters<typeof OpcUaSimServer>[0]): Promise<OpcUaSimServer> {
  const sim = new OpcUaSimServer(options);
  await sim.start();
  stops.push(() => sim.stop());
  return sim;
}

describe('OPC UA server back with another address space', () => {
  it('the missing register fails unmasked when used, its pending write is dropped as rejected, the rest work', async () => {
    const pkiDir = tempDir('opcua-sim-pki');
    const full = await server({ port: 0, pkiDir });
    const layer = simLayer(full.endpointUrl);
    const recovery = fastRecovery(layer);
    stops.push(() => recovery.disconnect());
    await recovery.connect();
    expect(await recovery.read(setpoint)).toBe(SIM_TAGS.setpoint.initial);

    const lost = nextEvent(layer, 'linkLost');
    await full.stop();
    await lost;
    await recovery.read(jacketTemperature);
    expect(recovery.state).toBe('issue');
    await recovery.write(44, setpoint);
    await reaches(recovery, 'reconnect');

    const connected = nextEvent<{ badRegisters: readonly HardwareConfigurationError[] }>(layer, 'connected');
    const dropped = nextEvent(recovery, 'pendingWritesDropped');
    const reduced = await server({
      port: full.port,
      pkiDir,
      tags: [SIM_TAGS.jacketTemperature, SIM_TAGS.pumpSpeed],
    });
    await reaches(recovery, 'ok');
    expect((await connected).badRegisters.map((e) => e.registers)).toEqual([['setpoint']]);
    expect(await dropped).toMatchObject({
      registers: ['setpoint'],
      reason: 'rejected',
      error: { name: 'HardwareConfigurationError', code: 'BadNodeIdUnknown' },
    });
    await expect(recovery.read(setpoint)).rejects.toMatchObject({
      name: 'HardwareConfigurationError',
      registers: ['setpoint'],
    });
    await expect(recovery.write(45, setpoint)).rejects.toMatchObject({ name: 'HardwareConfigurationError' });
    expect(recovery.state).toBe('ok');
    expect(await recovery.readBatch([jacketTemperature, pumpSpeed])).toEqual([expect.any(Number), 120]);
    await recovery.write(121, pumpSpeed);
    expect(reduced.values.get('PumpSpeed')).toBe(121);
    expect(reduced.writeCounts.get('Setpoint')).toBe(0);
  });
});
