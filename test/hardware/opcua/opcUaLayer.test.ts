import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HardwareConfigurationError, HardwareError } from '../../../src/hardware/errors.ts';
import { HardwareRecovery } from '../../../src/hardware/hardwareRecovery.ts';
import { classifyStatusCode, type OpcUaHardwareLayer } from '../../../src/hardware/opcua/index.ts';
import {
  clientPki,
  jacketTemperature,
  pumpSpeed,
  SimProcess,
  setpoint,
  simLayer,
  simRegisters,
  tempDir,
} from './support.ts';

/**
 * The OPC UA layer against `engine-link opcua-sim` in its own process: batched reads and writes,
 * idempotent connect and disconnect, status codes mapped to faults and configuration errors, and the
 * three ways of signing in (anonymous, user and password, certificate-secured channel).
 */
const sim = new SimProcess(['--user', 'alice:secret', '--allow-anonymous']);
const layers: OpcUaHardwareLayer[] = [];

beforeAll(() => sim.start());
afterAll(() => sim.kill());
afterEach(async () => {
  for (const layer of layers.splice(0)) await layer.disconnect();
});

function layer(options: Parameters<typeof simLayer>[1] = {}): OpcUaHardwareLayer {
  const created = simLayer(sim.url, options);
  layers.push(created);
  return created;
}

describe('OpcUaHardwareLayer against opcua-sim', () => {
  it('reads and writes registers in batches: one Write call for several registers, read back in one Read', async () => {
    const hardware = layer();
    await hardware.connect();
    expect(await hardware.readBatch(simRegisters)).toEqual([expect.any(Number), 120, 37]);

    await hardware.writeBatch([150, 41.5], [pumpSpeed, setpoint]);
    const [pump, target] = await Promise.all([
      sim.nextWrite('PumpSpeed', 150),
      sim.nextWrite('Setpoint', 41.5),
    ]);
    expect(pump.request).toBe(target.request);
    expect(await hardware.readBatch([setpoint, pumpSpeed])).toEqual([41.5, 150]);

    await hardware.write(42, setpoint);
    expect(await sim.nextWrite('Setpoint', 42)).toMatchObject({ request: target.request + 1 });
    expect(await hardware.read(setpoint)).toBe(42);
  });

  it('connects and disconnects idempotently, concurrently too, and connects again after a disconnect', async () => {
    const hardware = layer();
    await Promise.all([hardware.connect(), hardware.connect(), hardware.connect()]);
    expect(hardware.isConnected).toBe(true);
    await hardware.connect();
    expect(await hardware.read(setpoint)).toEqual(expect.any(Number));

    await Promise.all([hardware.disconnect(), hardware.disconnect()]);
    await hardware.disconnect();
    expect(hardware.isConnected).toBe(false);
    // Not connected is a fault (masked by a recovery), and no network call is made for it.
    await expect(hardware.read(setpoint)).rejects.toThrow(HardwareError);

    await hardware.connect();
    expect(hardware.isConnected).toBe(true);
    expect(await hardware.read(setpoint)).toEqual(expect.any(Number));

    // A disconnect while connecting abandons the connect: it rejects, and the layer stays closed.
    const fresh = layer();
    const connecting = fresh.connect();
    await fresh.disconnect();
    await expect(connecting).rejects.toThrow(HardwareError);
    expect(fresh.isConnected).toBe(false);
    await fresh.connect();
    expect(fresh.isConnected).toBe(true);
  });

  it('a bad node id is a configuration error at once: connect rejects naming it, and a recovery does not mask it', async () => {
    const typo = {
      name: 'jacketTemp',
      direction: 'read',
      nodeId: setpoint.nodeId.replace('Setpoint', 'Setpiont'),
    } as const;
    const readOnlyAsWrite = { ...jacketTemperature, name: 'jacketWrite', direction: 'write' } as const;
    const hardware = layer({ registers: [...simRegisters, typo, readOnlyAsWrite] });
    const error = await hardware.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HardwareConfigurationError);
    expect(error).not.toBeInstanceOf(HardwareError);
    expect((error as HardwareConfigurationError).registers).toEqual(['jacketTemp', 'jacketWrite']);
    expect((error as Error).message).toMatch(/'jacketTemp'.*BadNodeIdUnknown/);
    expect((error as Error).message).toMatch(/'jacketWrite'.*does not let it be written/);
    expect(hardware.isConnected).toBe(false);

    const recovery = new HardwareRecovery(layer({ registers: [typo] }), { name: 'reactor' });
    const faults: unknown[] = [];
    recovery.on('fault', (fault) => faults.push(fault));
    await expect(recovery.connect()).rejects.toThrow(/'jacketTemp'.*BadNodeIdUnknown/);
    expect(recovery.state).toBe('disconnected');
    expect(faults).toEqual([]);

    // Malformed node ids and endpoint URLs are refused before anything is sent.
    expect(() => simLayer(sim.url, { registers: [{ ...setpoint, nodeId: 'ns=2;q=1' }] })).toThrow(
      HardwareConfigurationError,
    );
    expect(() => simLayer('http://127.0.0.1:4840')).toThrow(/not an OPC UA endpoint URL/);
  });

  it('status codes: a value the server refuses is a configuration error, passed on unmasked in ok', async () => {
    const recovery = new HardwareRecovery(layer(), { name: 'reactor' });
    await recovery.connect();
    // opcua-sim refuses non-finite setpoints with BadOutOfRange.
    await expect(recovery.write(Number.NaN, setpoint)).rejects.toMatchObject({
      name: 'HardwareConfigurationError',
      code: 'BadOutOfRange',
      registers: ['setpoint'],
    });
    // A value of the wrong type for the node is the caller's bug: a TypeError, nothing sent.
    const before = sim.writes('Setpoint').length;
    await expect(recovery.write('hot', setpoint)).rejects.toThrow(TypeError);
    expect(sim.writes('Setpoint')).toHaveLength(before);
    expect(recovery.state).toBe('ok');
    expect(recovery.pendingWrites.size).toBe(0);
    expect(recovery.counters.faults).toBe(0);
    await recovery.disconnect();
  });

  it('signs in as a user with a password; a wrong password is a configuration error', async () => {
    const alice = layer({
      security: { identity: { type: 'userName', userName: 'alice', password: 'secret' } },
    });
    await alice.connect();
    await alice.write(38, setpoint);
    expect(await alice.read(setpoint)).toBe(38);

    const intruder = layer({
      security: { identity: { type: 'userName', userName: 'alice', password: 'guess' } },
    });
    await expect(intruder.connect()).rejects.toMatchObject({
      name: 'HardwareConfigurationError',
      code: 'BadUserAccessDenied',
    });
    expect(intruder.isConnected).toBe(false);
  });

  it('secures the channel with a certificate it makes itself, offline (Sign and SignAndEncrypt, Basic256Sha256)', async () => {
    for (const mode of ['Sign', 'SignAndEncrypt'] as const) {
      const pkiDir = tempDir('opcua-cert');
      const secure = layer({
        pkiDir,
        security: { mode, identity: { type: 'userName', userName: 'alice', password: 'secret' } },
      });
      expect(secure.securitySummary).toBe(`${mode}/Basic256Sha256 as user alice`);
      await secure.connect();
      await secure.write(39, setpoint);
      expect(await secure.read(setpoint)).toBe(39);
    }
    expect(() =>
      simLayer(sim.url, { pkiDir: clientPki(), security: { mode: 'Sign', policy: 'None' } }),
    ).toThrow(/None goes with None only/);
  });

  it('classifies status codes: link and device failures are faults, setup mistakes are configuration errors', async () => {
    const { StatusCodes } = await import('node-opcua');
    expect(classifyStatusCode(StatusCodes.Good)).toBe('good');
    expect(classifyStatusCode(StatusCodes.UncertainLastUsableValue)).toBe('good');
    for (const code of [
      'BadConnectionClosed',
      'BadTimeout',
      'BadSessionIdInvalid',
      'BadDeviceFailure',
      'BadServerHalted',
    ])
      expect(classifyStatusCode(StatusCodes[code as keyof typeof StatusCodes] as never), code).toBe('fault');
    for (const code of [
      'BadNodeIdUnknown',
      'BadNodeIdInvalid',
      'BadNotWritable',
      'BadTypeMismatch',
      'BadUserAccessDenied',
      'BadIdentityTokenRejected',
      'BadCertificateUntrusted',
    ])
      expect(classifyStatusCode(StatusCodes[code as keyof typeof StatusCodes] as never), code).toBe(
        'configuration',
      );
  });
});
