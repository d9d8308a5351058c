import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../../src/transport/faultProxy.ts';
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
 * The link to `engine-link opcua-sim` (its own process) through the fault proxy: cut (reset) and
 * black-holed (half-open: no FIN, no RST, nothing moves). A black hole on an idle link is noticed by the
 * session keep-alive alone, within `keepAliveMs` + `requestTimeoutMs`; the recovery masks, reconnects once
 * the proxy passes traffic again, and writes the pending setpoint once.
 */
const sim = new SimProcess();
let proxy: FaultProxy;
let proxyUrl: string;

beforeAll(async () => {
  await sim.start();
  proxy = new FaultProxy({ host: '127.0.0.1', port: sim.port });
  proxyUrl = `opc.tcp://127.0.0.1:${(await proxy.start()).port}`;
});
afterAll(async () => {
  await proxy.close();
  await sim.kill();
});

const KEEP_ALIVE_MS = 500;
const REQUEST_TIMEOUT_MS = 5000;

function recovered() {
  const layer = simLayer(proxyUrl, { keepAliveMs: KEEP_ALIVE_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS });
  return { layer, recovery: fastRecovery(layer) };
}

describe('HardwareRecovery over OPC UA through the fault proxy', () => {
  it('a black-holed idle link is noticed by the session keep-alive; masked, reconnected after restore, the pending setpoint written once', async () => {
    const { layer, recovery } = recovered();
    const states = recordStates(recovery);
    await recovery.connect();
    const good = await recovery.readBatch([jacketTemperature, setpoint]);

    // Half-open: the connection stays up, nothing passes, and the engine is not reading.
    const blackholedAt = Date.now();
    const lost = nextEvent<Error>(layer, 'linkLost');
    proxy.blackhole();
    const reason = await lost;
    const noticedAfterMs = Date.now() - blackholedAt;
    expect(reason.message).toMatch(/keep-alive|connection/);
    // Generous bound for a loaded machine: a ping within the keep-alive, unanswered for the request timeout.
    expect(noticedAfterMs).toBeLessThan(KEEP_ALIVE_MS + REQUEST_TIMEOUT_MS + 5000);
    expect(recovery.state).toBe('ok');

    // The engine's next read fails at once (no waiting on the dead link) and is masked.
    const readAt = Date.now();
    expect(await recovery.readBatch([jacketTemperature, setpoint])).toEqual(good);
    expect(Date.now() - readAt).toBeLessThan(REQUEST_TIMEOUT_MS);
    expect(recovery.state).toBe('issue');
    await recovery.write(46, setpoint);
    await reaches(recovery, 'reconnect');

    // Reconnects cannot get through the black hole; once the proxy passes traffic, one does.
    const flushed = nextEvent(recovery, 'pendingWritesFlushed');
    proxy.restore();
    await reaches(recovery, 'ok');
    await flushed;
    expect(await sim.nextWrite('Setpoint', 46)).toMatchObject({ value: 46 });
    expect(await recovery.read(setpoint)).toBe(46);
    expect(states).toEqual(['ok', 'issue', 'reconnect', 'ok']);
    // Any duplicate of the flush would be announced before this later write: there is none.
    await recovery.write(133, pumpSpeed);
    await sim.nextWrite('PumpSpeed', 133);
    expect(sim.writes('Setpoint').map((w) => w.value)).toEqual([46]);
    await recovery.disconnect();
  });

  it('a cut link (reset) is noticed at once and recovered the same way', async () => {
    const { layer, recovery } = recovered();
    const states = recordStates(recovery);
    await recovery.connect();
    const before = await recovery.read(setpoint);
    const lost = nextEvent(layer, 'linkLost');
    proxy.cut();
    await lost;
    expect(await recovery.read(setpoint)).toBe(before);
    await recovery.write(47, setpoint);
    await reaches(recovery, 'ok');
    await sim.nextWrite('Setpoint', 47);
    expect(await recovery.read(setpoint)).toBe(47);
    expect(states).toEqual(['ok', 'issue', 'reconnect', 'ok']);
    await recovery.disconnect();
  });
});
