import { afterEach, describe, expect, it } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { RunTracker } from '../../src/engine/runTracker.ts';
import { HardwareRecovery } from '../../src/hardware/hardwareRecovery.ts';
import { SimulatedHardware } from '../../src/hardware/simulatedHardware.ts';
import {
  DEFAULT_INSPECT_URL,
  InspectTargetError,
  resolveInspectUrl,
} from '../../src/inspect/inspectTarget.ts';
import { createMachineInspector, type MachineInspector } from '../../src/inspect/machineInspector.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { until } from '../support/until.ts';
import { InspectionReceiver } from './support.ts';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe('machine inspector', () => {
  it("a receiver gets the machines' events: engineLink, engineSession, runReconciliation and hardwareRecovery", async () => {
    const receiver = await InspectionReceiver.start();
    cleanup.push(() => receiver.close());
    const inspector = createMachineInspector({ url: receiver.url });
    cleanup.push(() => inspector.stop());

    const clock = new SimulatedClock();
    const network = new MemoryNetwork({ clock });
    const aggregator = new Aggregator({
      store: new SqliteStore(':memory:'),
      clock,
      inspect: inspector.inspect,
    });
    cleanup.push(() => aggregator.close());
    network.listen(aggregator);
    const dispatcher = new ResilientDispatcher({
      engineId: 'insp-1',
      connector: network,
      clock,
      random: () => 0,
      inspect: inspector.inspect,
    });
    cleanup.push(() => dispatcher.close({ drainTimeoutMs: 0 }));
    const runs = new RunTracker(dispatcher, clock);
    const hardware = new HardwareRecovery(
      new SimulatedHardware([{ name: 'valve', direction: 'readWrite' }]),
      {
        clock,
        inspect: inspector.inspect,
      },
    );
    cleanup.push(() => hardware.disconnect());

    await until('available', () => aggregator.engine('insp-1')?.link === 'available', clock);
    runs.started('inspected-run', 'titration');
    await until('run active', async () => (await aggregator.run('inspected-run'))?.state === 'active', clock);
    await hardware.connect();

    const machines = ['engineLink', 'engineSession', 'runReconciliation', 'hardwareRecovery'];
    await receiver.until('an actor of each machine', () =>
      machines.every((name) => receiver.sessionsOf(name).length > 0),
    );
    // Each actor registered with its machine definition, then reported its events and states.
    const stateOf = (name: string, value: unknown) => () =>
      receiver
        .sessionsOf(name)
        .some((id) =>
          receiver
            .of(id, '@xstate.snapshot')
            .some((e) => JSON.stringify(e.snapshot?.value) === JSON.stringify(value)),
        );
    await receiver.until('engineLink connected', stateOf('engineLink', 'connected'));
    await receiver.until('engineSession available', stateOf('engineSession', 'available'));
    await receiver.until('runReconciliation active', stateOf('runReconciliation', 'active'));
    await receiver.until('hardwareRecovery ok', stateOf('hardwareRecovery', 'ok'));
    const link = receiver.sessionsOf('engineLink')[0]!;
    expect(receiver.of(link, '@xstate.event').map((e) => e.event?.type)).toEqual(
      expect.arrayContaining(['SOCKET_OPENED', 'WELCOME']),
    );
    const session = receiver.sessionsOf('engineSession')[0]!;
    expect(receiver.of(session, '@xstate.event').map((e) => e.event?.type)).toContain('HELLO');
    const actor = receiver.events.find((e) => e.type === '@xstate.actor' && e.name === 'runReconciliation')!;
    expect(JSON.parse(actor.definition!)).toMatchObject({ id: 'runReconciliation', initial: 'starting' });
    expect(inspector.connected).toBe(true);
  });

  it('keeps events while the receiver is away and delivers them once it is there', async () => {
    // A port nobody listens on yet: find one, then free it.
    const probe = await InspectionReceiver.start();
    const url = probe.url;
    await probe.close();
    const inspector = createMachineInspector({ url, retryMs: { initial: 50, max: 100 } });
    cleanup.push(() => inspector.stop());
    const clock = new SimulatedClock();
    const hardware = new HardwareRecovery(new SimulatedHardware([{ name: 'valve', direction: 'read' }]), {
      clock,
      inspect: inspector.inspect,
    });
    cleanup.push(() => hardware.disconnect());
    await hardware.connect();
    expect(inspector.connected).toBe(false);

    const port = Number(new URL(url).port);
    const { WebSocketServer } = await import('ws');
    const late = new WebSocketServer({ host: '127.0.0.1', port });
    const received: Array<{ type: string; name?: string }> = [];
    const gotActor = new Promise<void>((resolve) =>
      late.on('connection', (socket) =>
        socket.on('message', (data) => {
          received.push(JSON.parse(data.toString()));
          if (received.some((e) => e.type === '@xstate.actor' && e.name === 'hardwareRecovery')) resolve();
        }),
      ),
    );
    cleanup.push(() => new Promise<void>((resolve) => late.close(() => resolve())));
    await gotActor;
    cleanup.push(() => {
      for (const client of late.clients) client.terminate();
    });
    expect(received.filter((e) => e.type === '@xstate.actor')).toHaveLength(1);
  });

  it('stops for good: its connection closes and what happens after is not sent', async () => {
    const receiver = await InspectionReceiver.start();
    cleanup.push(() => receiver.close());
    let connected!: () => void;
    const isConnected = new Promise<void>((resolve) => {
      connected = resolve;
    });
    const inspector: MachineInspector = createMachineInspector({
      url: receiver.url,
      onStatus: (status) => status.connected && connected(),
    });
    await isConnected;
    inspector.stop();
    const clock = new SimulatedClock();
    const hardware = new HardwareRecovery(new SimulatedHardware([{ name: 'valve', direction: 'read' }]), {
      clock,
      inspect: inspector.inspect,
    });
    await hardware.connect();
    await hardware.disconnect();
    await receiver.until('the inspector closed its connection', () => receiver.closed === 1);
    // Inspection events are converted on a zero-delay timer: let those run, then nothing may have come.
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(inspector.connected).toBe(false);
    expect(receiver.events).toEqual([]);
  });
});

describe('resolveInspectUrl', () => {
  it('takes --inspect first, then ENGINE_LINK_INSPECT', () => {
    expect(resolveInspectUrl(undefined, {})).toBeUndefined();
    expect(resolveInspectUrl(true, {})).toBe(DEFAULT_INSPECT_URL);
    expect(resolveInspectUrl('ws://10.0.0.5:9000', { ENGINE_LINK_INSPECT: '1' })).toBe('ws://10.0.0.5:9000');
    expect(resolveInspectUrl(undefined, { ENGINE_LINK_INSPECT: '1' })).toBe(DEFAULT_INSPECT_URL);
    expect(resolveInspectUrl(undefined, { ENGINE_LINK_INSPECT: 'true' })).toBe(DEFAULT_INSPECT_URL);
    expect(resolveInspectUrl(undefined, { ENGINE_LINK_INSPECT: 'wss://inspect.example:443' })).toBe(
      'wss://inspect.example:443',
    );
    for (const off of ['', '0', 'false', 'off'])
      expect(resolveInspectUrl(undefined, { ENGINE_LINK_INSPECT: off })).toBeUndefined();
  });

  it('refuses what is not a WebSocket URL, naming where it came from', () => {
    expect(() => resolveInspectUrl('http://localhost:8090', {})).toThrow(InspectTargetError);
    expect(() => resolveInspectUrl('http://localhost:8090', {})).toThrow(
      /--inspect must be a ws:\/\/ or wss:\/\/ URL/,
    );
    expect(() => resolveInspectUrl(undefined, { ENGINE_LINK_INSPECT: 'maybe' })).toThrow(
      /ENGINE_LINK_INSPECT must be/,
    );
  });
});
