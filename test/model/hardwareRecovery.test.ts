import { describe, expect, it } from 'vitest';
import {
  type HardwareRecoveryEvent,
  type HardwareRecoveryMachineState,
  hardwareRecoveryMachine,
} from '../../machines/hardwareRecovery.ts';
import { HardwareError, HardwareUnavailableError } from '../../src/hardware/errors.ts';
import { HardwareRecovery, type ReconnectResult } from '../../src/hardware/hardwareRecovery.ts';
import { reconnectDelay } from '../../src/hardware/reconnectBackoff.ts';
import type { HardwareRegister } from '../../src/hardware/register.ts';
import { SimulatedHardware } from '../../src/hardware/simulatedHardware.ts';
import { SimulatedClock, settle } from '../../src/time/simulatedClock.ts';
import {
  coverageOf,
  formatCoverage,
  hardwareRecoveryModelEvents,
  transitionCoveringPaths,
} from './support/index.ts';

/**
 * Model-based test of the hardware link: paths generated from machines/hardwareRecovery.ts that
 * together take every transition (DISCONNECT from every state included), each driven through the
 * real HardwareRecovery around a SimulatedHardware, on a simulated clock with the default thresholds
 * (10 s in issue, 5 h in reconnect) and backoff schedule. Every event is caused the way production
 * causes it (an engine read or write against failing or healthy hardware, time passing, a connect
 * succeeding or failing), never sent to the machine directly. After every step the recovery's state,
 * connection status and the promise-8 behaviour of that state are checked with probe reads, writes
 * and commands: what touches the hardware, what is masked, what fails, what is pending.
 */
const RECONNECT_AFTER_MS = 10_000;
const ERROR_AFTER_MS = 5 * 60 * 60 * 1000;
// The attempt counter does not change what the machine does: states are told apart by value alone.
const options = {
  inherited: 'perState' as const,
  serializeState: (snapshot: { value: unknown }) => JSON.stringify(snapshot.value),
};
const paths = transitionCoveringPaths(hardwareRecoveryMachine, hardwareRecoveryModelEvents, options);

const temperature: HardwareRegister = { name: 'temperature', direction: 'read' };
const setpoint: HardwareRegister = { name: 'setpoint', direction: 'readWrite' };

function start() {
  const clock = new SimulatedClock();
  const hardware = new SimulatedHardware([
    { ...temperature, value: 20 },
    { ...setpoint, value: 0 },
  ]);
  hardware.holdConnects();
  const recovery = new HardwareRecovery(hardware, { name: 'reactor', clock });
  const rt = {
    clock,
    hardware,
    recovery,
    /** The setpoint the engine asked for last. */
    setpoint: 0,
    /** The setpoint the hardware holds when pending writes were dropped (error, disconnect). */
    onHardware: 0,
    dropped: false,
    /** The temperature last read from the hardware: what masked reads return. */
    lastGood: null as number | null,
    reconnectEnteredAt: 0,
    nextReconnectAt: 0,
    failedSinceReconnect: 0,
    states: [] as string[],
    statuses: [] as string[],
    scheduled: [] as Array<{ attempt: number; delayMs: number }>,
    attempts: [] as Array<{ attempt: number; state: string }>,
    results: [] as ReconnectResult[],
    connectFailures: 0,
    probes: 0,
  };
  recovery.on('state', ({ from, to }) => {
    expect(from).not.toBe(to);
    rt.states.push(to);
    if (to === 'reconnect') {
      rt.reconnectEnteredAt = clock.now();
      rt.failedSinceReconnect = 0;
    }
  });
  recovery.on('connectionStatus', (status) => rt.statuses.push(status));
  recovery.on('reconnectScheduled', (info) => {
    rt.scheduled.push(info);
    rt.nextReconnectAt = clock.now() + info.delayMs;
  });
  recovery.on('reconnectAttempt', (info) => rt.attempts.push(info));
  recovery.on('reconnectResult', (result) => {
    rt.results.push(result);
    if (!result.ok) rt.failedSinceReconnect++;
  });
  recovery.on('connectFailed', () => rt.connectFailures++);
  recovery.on('pendingWritesDropped', () => {
    rt.dropped = true;
  });
  return rt;
}

type Runtime = ReturnType<typeof start>;

/** Makes the real runtime experience `event`. */
async function drive(rt: Runtime, event: HardwareRecoveryEvent): Promise<void> {
  const { clock, hardware, recovery } = rt;
  switch (event.type) {
    case 'CONNECT_SUCCEEDED':
    case 'CONNECT_FAILED': {
      const connecting = recovery.connect();
      await settle();
      const succeed = event.type === 'CONNECT_SUCCEEDED';
      expect(hardware.releaseConnects(succeed ? 'succeed' : 'fail')).toBe(1);
      if (succeed) await connecting;
      else await expect(connecting).rejects.toBeInstanceOf(HardwareError);
      break;
    }
    case 'READ_WRITE_FAILED': {
      // The link breaks under a write: the write is masked and kept as pending.
      hardware.failReads = true;
      hardware.failWrites = true;
      const calls = hardware.calls.write;
      await recovery.write(++rt.setpoint, setpoint);
      expect(hardware.calls.write).toBe(calls + 1);
      break;
    }
    case 'READ_WRITE_SUCCEEDED': {
      hardware.failReads = false;
      hardware.failWrites = false;
      expect(await recovery.read(temperature)).toBe(hardware.value('temperature'));
      rt.lastGood = hardware.value('temperature') as number;
      break;
    }
    case 'ISSUE_TIMEOUT':
      await clock.advance(RECONNECT_AFTER_MS);
      break;
    case 'RECONNECT_DUE':
      await clock.advance(rt.nextReconnectAt - clock.now());
      expect(hardware.heldConnects).toBe(1);
      break;
    case 'RECONNECT_SUCCEEDED':
      hardware.repairLink();
      expect(hardware.releaseConnects('succeed')).toBe(1);
      break;
    case 'RECONNECT_FAILED':
      expect(hardware.releaseConnects('fail')).toBe(1);
      break;
    case 'ERROR_TIMEOUT': {
      const untilError = rt.reconnectEnteredAt + ERROR_AFTER_MS - clock.now();
      if (recovery.machineState === 'reconnect.waiting') {
        // Five hours of attempts against a device that refuses every connect at once.
        hardware.holdConnects(false);
        hardware.failConnects = true;
        await clock.advance(untilError);
        hardware.failConnects = false;
        hardware.holdConnects(true);
        expect(rt.failedSinceReconnect).toBeGreaterThan(5);
      } else {
        // The attempt under way hangs: only the error timer is pending.
        expect(hardware.heldConnects).toBe(1);
        await clock.advance(untilError);
      }
      break;
    }
    case 'DISCONNECT':
      await recovery.disconnect();
      break;
  }
  await settle();
}

function probeCommand(rt: Runtime) {
  let ran = 0;
  const result = rt.recovery.runCommand(
    'calibrate',
    () => {
      ran++;
      return 'calibrated';
    },
    { requiresHardware: true },
  );
  return { result, ran: () => ran };
}

/** What must hold in each state, beyond its name: checked with probe reads, writes and commands. */
async function checkState(rt: Runtime, expected: HardwareRecoveryMachineState): Promise<void> {
  const { recovery, hardware, clock } = rt;
  const top = expected.split('.')[0]!;
  expect(recovery.state).toBe(top);
  if (rt.states.length > 0) expect(rt.states.at(-1)).toBe(top);
  const connected = top === 'ok' || top === 'issue' || top === 'reconnect';
  expect(recovery.connectionStatus).toBe(connected ? 'Connected' : 'Disconnected');
  expect(rt.statuses.at(-1) ?? 'Disconnected').toBe(recovery.connectionStatus);
  expect(recovery.isConnected).toBe(top === 'ok' || top === 'issue');
  // The device's temperature moves at every probe, so a masked read is told from a real one.
  hardware.setValue('temperature', 20 + ++rt.probes);

  const accesses = hardware.readWriteCalls;
  const command = probeCommand(rt);
  switch (top) {
    case 'ok': {
      await expect(command.result).resolves.toBe('calibrated');
      expect(command.ran()).toBe(1);
      // Pending writes were flushed (unless dropped on the way), and reads come from the hardware.
      expect(recovery.pendingWrites.size).toBe(0);
      const wanted = rt.dropped ? rt.onHardware : rt.setpoint;
      expect(hardware.value('setpoint')).toBe(wanted);
      rt.setpoint = rt.onHardware = wanted;
      rt.dropped = false;
      expect(await recovery.read(temperature)).toBe(hardware.value('temperature'));
      rt.lastGood = hardware.value('temperature') as number;
      expect(hardware.readWriteCalls).toBe(accesses + 1);
      break;
    }
    case 'issue': {
      await expect(command.result).rejects.toMatchObject({
        name: 'HardwareUnavailableError',
        state: 'issue',
      });
      expect(command.ran()).toBe(0);
      // The read goes to the hardware, fails, and is masked with the last-known-good value.
      expect(await recovery.read(temperature)).toBe(rt.lastGood);
      expect(hardware.readWriteCalls).toBe(accesses + 1);
      expect(recovery.pendingWrites.get('setpoint')).toBe(rt.setpoint);
      expect(clock.pendingTimers).toBe(1);
      break;
    }
    case 'reconnect': {
      await expect(command.result).rejects.toMatchObject({ state: 'reconnect' });
      // Masked without touching the hardware; the write joins the pending ones (latest value wins).
      expect(await recovery.read(temperature)).toBe(rt.lastGood);
      await recovery.write(++rt.setpoint, setpoint);
      expect(recovery.pendingWrites.get('setpoint')).toBe(rt.setpoint);
      expect(hardware.readWriteCalls).toBe(accesses);
      break;
    }
    case 'error':
    case 'disconnected': {
      await expect(command.result).rejects.toBeInstanceOf(HardwareUnavailableError);
      await expect(recovery.read(temperature)).rejects.toMatchObject({
        name: 'HardwareUnavailableError',
        state: top,
        register: 'temperature',
        operation: 'read',
      });
      await expect(recovery.write(99, setpoint)).rejects.toMatchObject({
        state: top,
        register: 'setpoint',
        operation: 'write',
      });
      expect(hardware.readWriteCalls).toBe(accesses);
      expect(recovery.pendingWrites.size).toBe(0);
      expect(command.ran()).toBe(0);
      break;
    }
  }
  if (top === 'disconnected') {
    expect(clock.pendingTimers).toBe(0);
    expect(hardware.isConnected).toBe(false);
  }
  if (expected.endsWith('.connecting')) {
    expect(hardware.heldConnects).toBe(1);
    expect(rt.attempts.at(-1)?.attempt).toBe(rt.failedSinceReconnect + 1);
  }
  if (expected.endsWith('.waiting')) {
    expect(hardware.heldConnects).toBe(0);
    expect(rt.scheduled.at(-1)).toEqual({
      attempt: rt.failedSinceReconnect + 1,
      delayMs: reconnectDelay(rt.failedSinceReconnect),
    });
    expect(rt.nextReconnectAt).toBeGreaterThan(clock.now());
  }
}

/** What a step must have reported, beyond the state it leads to. */
function checkStep(
  rt: Runtime,
  event: HardwareRecoveryEvent,
  before: { results: number; fails: number; attempts: number },
): void {
  if (event.type === 'RECONNECT_DUE')
    expect(rt.attempts.slice(before.attempts)).toEqual([
      { attempt: rt.failedSinceReconnect + 1, state: rt.recovery.state },
    ]);
  if (event.type === 'CONNECT_FAILED') expect(rt.connectFailures).toBe(before.fails + 1);
  if (event.type === 'RECONNECT_SUCCEEDED')
    expect(rt.results.slice(before.results)).toEqual([{ attempt: rt.failedSinceReconnect + 1, ok: true }]);
  if (event.type === 'RECONNECT_FAILED') {
    expect(rt.results.slice(before.results)).toMatchObject([{ attempt: rt.failedSinceReconnect, ok: false }]);
  }
}

describe('hardwareRecovery model', () => {
  it('the generated paths take every transition of the machine', () => {
    const report = coverageOf(hardwareRecoveryMachine, paths, options);
    expect(report.uncovered, formatCoverage(report)).toEqual([]);
    expect(report.ratio).toBe(1);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const rt = start();
      await settle();
      expect(rt.recovery.machineState).toBe(path.initial);
      await checkState(rt, path.initial as HardwareRecoveryMachineState);
      for (const step of path.steps) {
        const before = {
          results: rt.results.length,
          fails: rt.connectFailures,
          attempts: rt.attempts.length,
        };
        await drive(rt, step.event);
        expect(rt.recovery.machineState, `after ${step.event.type}`).toBe(step.expected);
        checkStep(rt, step.event, before);
        await checkState(rt, step.expected as HardwareRecoveryMachineState);
      }
      await rt.recovery.disconnect();
      expect(rt.clock.pendingTimers).toBe(0);
    });
  }
});
