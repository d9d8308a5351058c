import { afterEach, describe, expect, it, vi } from 'vitest';
import { Aggregator } from '../../src/aggregator/aggregator.ts';
import { startAggregatorServer } from '../../src/aggregator/server.ts';
import { SqliteStore } from '../../src/aggregator/store/sqliteStore.ts';
import { ResilientDispatcher } from '../../src/engine/resilientDispatcher.ts';
import { SimulatedEngine } from '../../src/engine/simulatedEngine.ts';
import { HardwareRecovery } from '../../src/hardware/hardwareRecovery.ts';
import { SimulatedHardware } from '../../src/hardware/simulatedHardware.ts';
import { systemClock } from '../../src/time/clock.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';
import { MAX_TIMER_MS } from '../../src/time/timerBounds.ts';
import { MemoryNetwork } from '../../src/transport/memoryTransport.ts';
import { WebSocketConnector } from '../../src/transport/webSocketTransport.ts';

/**
 * Item 3: Node runs a timer asked for more than 2^31 - 1 ms after 1 ms. Every duration a library
 * constructor takes is checked against that bound (a RangeError naming the option), and the system clock
 * never turns a long wait into a short one.
 */
const TOO_LONG = MAX_TIMER_MS + 1;
afterEach(() => vi.restoreAllMocks());

describe('durations beyond what a timer can wait', () => {
  it('are refused by the aggregator, naming the option', () => {
    for (const option of [
      'abandonAfterMs',
      'commandTimeoutMs',
      'heartbeatMs',
      'heartbeatTimeoutMs',
      'busyRetryAfterMs',
    ])
      expect(() => new Aggregator({ store: new SqliteStore(), [option]: TOO_LONG }), option).toThrow(
        new RegExp(`^${option} must be a number of milliseconds from \\d+ to \\d+`),
      );
    expect(() => new Aggregator({ store: new SqliteStore(), abandonAfterMs: 2_592_000_000 })).toThrow(
      RangeError,
    );
    expect(() => new Aggregator({ store: new SqliteStore(), commandTimeoutMs: 3_000_000_000 })).toThrow(
      RangeError,
    );
  });

  it('are refused by the dispatcher, its drain and close, the connector and the server', async () => {
    const network = new MemoryNetwork({ clock: new SimulatedClock() });
    const base = { engineId: 'e-1', connector: network, clock: new SimulatedClock() };
    for (const option of [
      'heartbeatTimeoutMs',
      'connectTimeoutMs',
      'backlogEventMs',
      'offlineSampleIntervalMs',
    ])
      expect(() => new ResilientDispatcher({ ...base, [option]: TOO_LONG }), option).toThrow(
        new RegExp(`^${option} must be`),
      );
    expect(() => new ResilientDispatcher({ ...base, retry: { maxMs: TOO_LONG } })).toThrow(
      /^retry\.maxMs must be/,
    );
    const dispatcher = new ResilientDispatcher(base);
    expect(() => dispatcher.drain(3_000_000_000)).toThrow(RangeError);
    await expect(dispatcher.close({ drainTimeoutMs: 3_000_000_000 })).rejects.toThrow(
      /^drainTimeoutMs must be/,
    );
    await dispatcher.close();
    expect(() => new WebSocketConnector('ws://127.0.0.1:1', { handshakeTimeoutMs: TOO_LONG })).toThrow(
      /^handshakeTimeoutMs/,
    );
    const aggregator = new Aggregator({ store: new SqliteStore() });
    await expect(startAggregatorServer({ aggregator, port: 0, headersTimeoutMs: TOO_LONG })).rejects.toThrow(
      /^headersTimeoutMs must be/,
    );
    await aggregator.close();
  });

  it('are refused by the simulated engine and hardware recovery', () => {
    const network = new MemoryNetwork({ clock: new SimulatedClock() });
    const dispatcher = new ResilientDispatcher({
      engineId: 'e-2',
      connector: network,
      clock: new SimulatedClock(),
    });
    expect(() => new SimulatedEngine(dispatcher, { runSeconds: 2_592_000 })).toThrow(
      /^runSeconds must be a number of seconds from 0 to 2147483/,
    );
    const hardware = new SimulatedHardware([]);
    expect(() => new HardwareRecovery(hardware, { errorAfterMs: TOO_LONG })).toThrow(/^errorAfterMs must be/);
    expect(() => new HardwareRecovery(hardware, { reconnectScheduleMs: [500, TOO_LONG] })).toThrow(
      /^reconnectScheduleMs: 2147483648 is not a wait in milliseconds/,
    );
  });

  it('the system clock waits the longest it can rather than the 1 ms Node would make of them', () => {
    const setTimer = vi.spyOn(globalThis, 'setTimeout');
    systemClock.setTimeout(() => {}, 3_000_000_000).cancel();
    systemClock.setTimeout(() => {}, 5).cancel();
    expect(setTimer.mock.calls.map((call) => call[1])).toEqual([MAX_TIMER_MS, 5]);
  });
});
