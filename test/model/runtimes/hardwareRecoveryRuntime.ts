import { expect } from 'vitest';
import {
  type HardwareRecoveryEvent,
  type HardwareRecoveryMachineState,
  hardwareRecoveryMachine,
} from '../../../machines/hardwareRecovery.ts';
import { HardwareError, HardwareUnavailableError } from '../../../src/hardware/errors.ts';
import { HardwareRecovery } from '../../../src/hardware/hardwareRecovery.ts';
import type { ReconnectResult } from '../../../src/hardware/hardwareRecoveryOptions.ts';
import type { HardwareRegister, HardwareValue } from '../../../src/hardware/register.ts';
import { SimulatedHardware } from '../../../src/hardware/simulatedHardware.ts';
import { SimulatedClock, settle } from '../../../src/time/simulatedClock.ts';
import type { Caused, RuntimeHarness } from '../support/modelSuite.ts';
import type { RuntimeRecorder } from '../support/runtimeRecorder.ts';

/**
 * The hardware link (machines/hardwareRecovery.ts) run by the real HardwareRecovery around a
 * SimulatedHardware, on a simulated clock with the default thresholds (10 s in issue, 5 h in reconnect)
 * and backoff schedule. Every event is caused the way production causes it (an engine read or write
 * against failing or healthy hardware, time passing, a connect succeeding or failing). After every step
 * the recovery's state, connection status and the promise-8 behaviour of that state are checked with
 * probe reads, writes and commands: what touches the hardware, what is masked, what fails, what is
 * pending.
 */
const RECONNECT_AFTER_MS = 10_000;
const ERROR_AFTER_MS = 5 * 60 * 60 * 1000;
/** The reconnect waits the README promises: 0.5 s, 2 s, 10 s, 30 s, 2 min, then every 30 min. */
const SCHEDULE_MS = [500, 2000, 10_000, 30_000, 120_000, 1_800_000];
const promisedDelay = (failed: number) => SCHEDULE_MS[Math.min(failed, SCHEDULE_MS.length - 1)]!;

const temperature: HardwareRegister = { name: 'temperature', direction: 'read' };
const setpoint: HardwareRegister = { name: 'setpoint', direction: 'readWrite' };

/** A hardware write: who asked for it (the engine, or the recovery flushing pending writes) and in which state. */
interface HardwareWrite {
  readonly byEngine: boolean;
  readonly state: HardwareRecoveryMachineState;
}

async function start(recorder: RuntimeRecorder): Promise<Runtime> {
  const clock = new SimulatedClock();
  const hardware = new SimulatedHardware([
    { ...temperature, value: 20 },
    { ...setpoint, value: 0 },
  ]);
  hardware.holdConnects();
  const recovery = new HardwareRecovery(hardware, { name: 'reactor', clock, inspect: recorder.inspect });
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
    /** True while the test itself is writing through the recovery. */
    engineWriting: false,
    writes: [] as HardwareWrite[],
    before: { results: 0, fails: 0, attempts: 0 },
  };
  const write = hardware.write.bind(hardware);
  const writeBatch = hardware.writeBatch.bind(hardware);
  const logged = (): void => {
    rt.writes.push({ byEngine: rt.engineWriting, state: recovery.machineState });
  };
  hardware.write = (value: HardwareValue, register: HardwareRegister) => {
    logged();
    return write(value, register);
  };
  hardware.writeBatch = (values: readonly HardwareValue[], registers: readonly HardwareRegister[]) => {
    logged();
    return writeBatch(values, registers);
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
  recovery.on('pendingWritesDropped', ({ reason }) => {
    rt.dropped = true;
    // Dropped on entering error or disconnected, and said which.
    expect(reason).toBe(recovery.state);
  });
  await settle();
  expect(recovery.machineState).toBe('disconnected');
  await checkState(rt, 'disconnected');
  return rt;
}

type Runtime = {
  readonly clock: SimulatedClock;
  readonly hardware: SimulatedHardware;
  readonly recovery: HardwareRecovery;
  setpoint: number;
  onHardware: number;
  dropped: boolean;
  lastGood: number | null;
  reconnectEnteredAt: number;
  nextReconnectAt: number;
  failedSinceReconnect: number;
  readonly states: string[];
  readonly statuses: string[];
  readonly scheduled: Array<{ attempt: number; delayMs: number }>;
  readonly attempts: Array<{ attempt: number; state: string }>;
  readonly results: ReconnectResult[];
  connectFailures: number;
  probes: number;
  engineWriting: boolean;
  readonly writes: HardwareWrite[];
  before: { results: number; fails: number; attempts: number };
};

/** The engine writes through the recovery. */
async function engineWrite(rt: Runtime, value: HardwareValue): Promise<void> {
  rt.engineWriting = true;
  try {
    await rt.recovery.write(value, setpoint);
  } finally {
    rt.engineWriting = false;
  }
}

/**
 * Makes the real runtime experience `event`; false when nothing can cause it in the current state (no
 * reconnect under way to finish, or a timer of the machine that would fire before the time passed).
 */
async function cause(rt: Runtime, event: HardwareRecoveryEvent): Promise<Caused> {
  const { clock, hardware, recovery } = rt;
  const state = recovery.machineState;
  rt.before = { results: rt.results.length, fails: rt.connectFailures, attempts: rt.attempts.length };
  switch (event.type) {
    case 'CONNECT_SUCCEEDED':
    case 'CONNECT_FAILED': {
      const connecting = recovery.connect();
      await settle();
      // Anywhere but disconnected, the recovery owns the connection: connect() resolves at once.
      if (state !== 'disconnected') {
        await connecting;
        break;
      }
      const succeed = event.type === 'CONNECT_SUCCEEDED';
      expect(hardware.releaseConnects(succeed ? 'succeed' : 'fail')).toBe(1);
      if (succeed) await connecting;
      else await expect(connecting).rejects.toBeInstanceOf(HardwareError);
      break;
    }
    case 'READ_WRITE_FAILED': {
      hardware.failReads = true;
      hardware.failWrites = true;
      if (state !== 'ok') {
        // A failing read: masked (issue, reconnect) or refused (error, disconnected).
        await recovery
          .read(temperature)
          .catch((error) => expect(error).toBeInstanceOf(HardwareUnavailableError));
        break;
      }
      // The link breaks under a write: the write is masked and kept as pending.
      const calls = hardware.calls.write;
      await engineWrite(rt, ++rt.setpoint);
      expect(hardware.calls.write).toBe(calls + 1);
      break;
    }
    case 'READ_WRITE_SUCCEEDED': {
      hardware.failReads = false;
      hardware.failWrites = false;
      if (state !== 'issue' && state !== 'ok') {
        await recovery
          .read(temperature)
          .catch((error) => expect(error).toBeInstanceOf(HardwareUnavailableError));
        break;
      }
      expect(await recovery.read(temperature)).toBe(hardware.value('temperature'));
      rt.lastGood = hardware.value('temperature') as number;
      break;
    }
    case 'ISSUE_TIMEOUT':
      if (state.endsWith('.waiting')) return false;
      await clock.advance(RECONNECT_AFTER_MS);
      break;
    case 'RECONNECT_DUE':
      if (!state.endsWith('.waiting')) {
        await clock.advance(SCHEDULE_MS[0]!);
        break;
      }
      await clock.advance(rt.nextReconnectAt - clock.now());
      expect(hardware.heldConnects).toBe(1);
      break;
    case 'RECONNECT_SUCCEEDED':
    case 'RECONNECT_FAILED': {
      // Outside `connecting`, only an attempt disowned by a disconnect can still finish.
      if (hardware.heldConnects === 0) return false;
      const succeed = event.type === 'RECONNECT_SUCCEEDED';
      if (succeed) hardware.repairLink();
      expect(hardware.releaseConnects(succeed ? 'succeed' : 'fail')).toBe(1);
      break;
    }
    case 'ERROR_TIMEOUT': {
      if (state.startsWith('reconnect.')) return { lead: await untilError(rt) };
      if (state === 'issue' || state === 'error.waiting') return false;
      await clock.advance(ERROR_AFTER_MS);
      break;
    }
    case 'DISCONNECT':
      await recovery.disconnect();
      break;
  }
  await settle();
  return true;
}

/** The error threshold passes in reconnect; returns the transitions the attempts on the way took. */
async function untilError(rt: Runtime): Promise<string[]> {
  const { clock, hardware, recovery } = rt;
  const left = rt.reconnectEnteredAt + ERROR_AFTER_MS - clock.now();
  if (recovery.machineState === 'reconnect.waiting') {
    // Five hours of attempts against a device that refuses every connect at once.
    hardware.holdConnects(false);
    hardware.failConnects = true;
    const failed = rt.failedSinceReconnect;
    await clock.advance(left);
    hardware.failConnects = false;
    hardware.holdConnects(true);
    expect(rt.failedSinceReconnect).toBeGreaterThan(5);
    await settle();
    const attempt = ['reconnect.waiting:RECONNECT_DUE#0', 'reconnect.connecting:RECONNECT_FAILED#0'];
    return Array.from({ length: rt.failedSinceReconnect - failed }, () => attempt).flat();
  }
  // The attempt under way hangs: only the error timer is pending.
  expect(hardware.heldConnects).toBe(1);
  await clock.advance(left);
  return [];
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
      await engineWrite(rt, ++rt.setpoint);
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
      await expect(engineWrite(rt, 99)).rejects.toMatchObject({
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
      delayMs: promisedDelay(rt.failedSinceReconnect),
    });
    expect(rt.nextReconnectAt).toBeGreaterThan(clock.now());
  }
}

/** What a step must have reported, beyond the state it leads to, then what must hold in that state. */
async function checkStep(
  rt: Runtime,
  step: { event: HardwareRecoveryEvent; expected: string },
): Promise<void> {
  const { event } = step;
  const before = rt.before;
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
  await checkState(rt, step.expected as HardwareRecoveryMachineState);
}

/** The promises of the hardware link (README, "Hardware recovery"): checked after every step. */
function invariants(rt: Runtime): void {
  const { recovery } = rt;
  // Pending writes reach the hardware only in ok; the engine's own writes only in ok and issue.
  for (const write of rt.writes) {
    if (write.byEngine) expect(['ok', 'issue']).toContain(write.state);
    else expect(write.state, 'a pending write written outside ok').toBe('ok');
  }
  // Connected while faults are masked (ok, issue, reconnect), Disconnected otherwise.
  const masking = recovery.state === 'ok' || recovery.state === 'issue' || recovery.state === 'reconnect';
  expect(recovery.connectionStatus).toBe(masking ? 'Connected' : 'Disconnected');
  expect(recovery.usable).toBe(masking);
  // Reconnecting gives up masking after the error threshold at the latest.
  if (recovery.state === 'reconnect')
    expect(rt.clock.now() - rt.reconnectEnteredAt).toBeLessThan(ERROR_AFTER_MS);
  // Nothing pending where nothing is masked any more.
  if (!masking) expect(recovery.pendingWrites.size).toBe(0);
}

const noAttempt = 'no reconnect attempt is under way to finish';
const attemptFirst = 'time cannot pass here without the next reconnect attempt starting first';

export const hardwareRecoveryHarness: RuntimeHarness<Runtime, HardwareRecoveryEvent> = {
  machine: hardwareRecoveryMachine,
  options: { inherited: 'perState' },
  start,
  state: (rt) => rt.recovery.machineState,
  cause,
  checkStep,
  invariants,
  visible: (rt) => ({
    state: rt.recovery.machineState,
    status: rt.recovery.connectionStatus,
    pending: [...rt.recovery.pendingWrites],
    timers: rt.clock.pendingTimers,
    held: rt.hardware.heldConnects,
    states: rt.states.length,
    statuses: rt.statuses.length,
    scheduled: rt.scheduled.length,
    attempts: rt.attempts.length,
    results: rt.results.length,
    connectFailures: rt.connectFailures,
  }),
  uncausable: Object.fromEntries([
    ...['disconnected', 'ok', 'issue', 'reconnect.waiting', 'error.waiting'].flatMap((state) =>
      ['RECONNECT_SUCCEEDED', 'RECONNECT_FAILED'].map((type) => [`${state} ⊘ ${type}`, noAttempt]),
    ),
    ['reconnect.waiting ⊘ ISSUE_TIMEOUT', attemptFirst],
    ['error.waiting ⊘ ISSUE_TIMEOUT', attemptFirst],
    ['error.waiting ⊘ ERROR_TIMEOUT', attemptFirst],
    ['issue ⊘ ERROR_TIMEOUT', 'five hours cannot pass in issue: it reconnects after ten seconds'],
  ]),
  stop: async (rt) => {
    await rt.recovery.disconnect();
    expect(rt.clock.pendingTimers).toBe(0);
  },
};
