import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { MachineRuntime } from '../../src/runtime/machineRuntime.ts';
import { SimulatedClock } from '../../src/time/simulatedClock.ts';

/** A small machine with a timer, an entry action and a transition action, all named. */
const lampMachine = setup({
  types: { events: {} as { type: 'SWITCH' } | { type: 'TIMEOUT' }, context: {} as { switches: number } },
  actions: {
    armTimer: () => {},
    cancelTimer: () => {},
    say: (_, _params: { what: string }) => {},
    count: assign({ switches: ({ context }) => context.switches + 1 }),
  },
}).createMachine({
  id: 'lamp',
  initial: 'off',
  context: { switches: 0 },
  states: {
    off: {
      on: { SWITCH: { target: 'on.bright', actions: ['count', { type: 'say', params: { what: 'on' } }] } },
    },
    on: {
      initial: 'bright',
      entry: 'armTimer',
      exit: 'cancelTimer',
      states: { bright: { on: { TIMEOUT: 'dim' } }, dim: {} },
      on: { SWITCH: { target: 'off', actions: ['count', { type: 'say', params: { what: 'off' } }] } },
    },
  },
});

function lamp(clock: SimulatedClock, log: string[]) {
  const runtime: MachineRuntime<typeof lampMachine, 'dim'> = new MachineRuntime(lampMachine, {
    clock,
    actions: (rt) => ({
      armTimer: () => rt.startTimer('dim', 1000, { type: 'TIMEOUT' }),
      cancelTimer: () => rt.cancelTimer('dim'),
      say: (_, { what }) => {
        log.push(`action ${what} (state still ${rt.state})`);
        rt.afterTransition(() => log.push(`notice ${what}`));
      },
    }),
    onState: (state, previous) => {
      log.push(`state ${previous ?? '-'} → ${state}`);
      // A listener that dispatches again queues its notices behind the ones waiting.
      if (state === 'off' && previous === 'on.dim') runtime.dispatch({ type: 'SWITCH' });
    },
  });
  return runtime;
}

describe('MachineRuntime', () => {
  it('tells the new state, then the notices the actions queued, once the transition is complete', () => {
    const log: string[] = [];
    const runtime = lamp(new SimulatedClock(), log);
    runtime.start();
    runtime.dispatch({ type: 'SWITCH' });
    expect(log).toEqual([
      'state - → off',
      'action on (state still off)',
      'state off → on.bright',
      'notice on',
    ]);
    expect(runtime.state).toBe('on.bright');
    expect(runtime.context.switches).toBe(1);
  });

  it('dispatches a timer event on the clock, and a dispatch from a listener waits for the notices before it', async () => {
    const clock = new SimulatedClock();
    const log: string[] = [];
    const runtime = lamp(clock, log);
    runtime.start();
    runtime.dispatch({ type: 'SWITCH' });
    await clock.advance(1000);
    expect(runtime.state).toBe('on.dim');
    log.length = 0;
    runtime.dispatch({ type: 'SWITCH' });
    expect(log).toEqual([
      'action off (state still on.dim)',
      'state on.dim → off',
      'action on (state still off)',
      'notice off',
      'state off → on.bright',
      'notice on',
    ]);
  });

  it('cancels its timers when stopped', async () => {
    const clock = new SimulatedClock();
    const runtime = lamp(clock, []);
    expect(runtime.state, 'before start').toBe('off');
    runtime.start();
    expect(runtime.running).toBe(true);
    runtime.dispatch({ type: 'SWITCH' });
    expect(clock.pendingTimers).toBe(1);
    runtime.stop();
    expect(clock.pendingTimers).toBe(0);
    expect(runtime.running).toBe(false);
  });

  it('throws the error of an action from the dispatch that ran it, stops, and says nothing of it', async () => {
    const clock = new SimulatedClock();
    const log: string[] = [];
    const runtime = new MachineRuntime(lampMachine, {
      clock,
      actions: (rt) => ({
        armTimer: () => rt.startTimer('dim', 1000, { type: 'TIMEOUT' }),
        cancelTimer: () => rt.cancelTimer('dim'),
        say: (_, { what }) => {
          rt.afterTransition(() => log.push(`notice ${what}`));
          if (what === 'off') throw new Error('disk full');
        },
      }),
      onState: (state) => log.push(`state ${state}`),
    });
    runtime.start();
    runtime.dispatch({ type: 'SWITCH' });
    expect(clock.pendingTimers).toBe(1);
    log.length = 0;
    expect(() => runtime.dispatch({ type: 'SWITCH' })).toThrow('disk full');
    expect(log).toEqual([]);
    expect(runtime.running).toBe(false);
    expect(clock.pendingTimers).toBe(0);
    // Once: the stopped actor ignores what comes after (XState warns of it).
    expect(() => runtime.dispatch({ type: 'SWITCH' })).not.toThrow();
  });

  it('a listener that dispatches finishes before the notices queued behind it run', () => {
    const log: string[] = [];
    const runtime: MachineRuntime<typeof lampMachine> = new MachineRuntime(lampMachine, {
      clock: new SimulatedClock(),
      actions: (rt) => ({
        armTimer: () => {},
        cancelTimer: () => {},
        say: (_, { what }) => rt.afterTransition(() => log.push(`notice ${what}`)),
      }),
      onState: (state) => {
        if (state === 'on.bright' && log.length === 0) runtime.dispatch({ type: 'SWITCH' });
        log.push(`state ${state}`);
      },
    });
    runtime.start();
    log.length = 0;
    runtime.dispatch({ type: 'SWITCH' });
    expect(log).toEqual(['state on.bright', 'notice on', 'state off', 'notice off']);
  });
});
