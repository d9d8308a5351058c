import { describe, expect, test } from 'vitest';
import { createActor, setup } from 'xstate';
import { createTestModel } from 'xstate/graph';
import { engineLinkMachine } from '../../../machines/engineLink.ts';
import { engineSessionMachine } from '../../../machines/engineSession.ts';
import { stateName } from '../../../machines/stateName.ts';
import {
  buildPath,
  coverageOf,
  engineLinkModelEvents,
  engineSessionModelEvents,
  formatCoverage,
  formatEvent,
  listTransitions,
  negativeSteps,
  RuntimeRecorder,
  stateToString,
  transitionCoveringPaths,
} from './index.ts';

type TurnstileEvent = { type: 'COIN'; value: number } | { type: 'PUSH' } | { type: 'RESET' };

/** A small machine with a guard, a targetless fallback, nesting, an eventless transition and a root transition. */
const turnstile = setup({
  types: { events: {} as TurnstileEvent },
  actions: { refund: () => {}, alarm: () => {}, count: () => {} },
  guards: { enough: ({ event }) => event.type === 'COIN' && event.value >= 50 },
}).createMachine({
  id: 'turnstile',
  initial: 'locked',
  states: {
    locked: {
      on: {
        COIN: [{ guard: 'enough', target: 'unlocked' }, { actions: 'refund' }],
        PUSH: { actions: 'alarm' },
      },
    },
    unlocked: {
      initial: 'waiting',
      states: {
        waiting: { on: { PUSH: 'passing' } },
        passing: { entry: 'count', always: '#turnstile.locked' },
      },
    },
  },
  on: { RESET: '.locked' },
});

const coins: TurnstileEvent[] = [
  { type: 'COIN', value: 10 },
  { type: 'COIN', value: 50 },
];

describe('listTransitions', () => {
  test('lists every alternative of every state node, root transitions once', () => {
    const list = listTransitions(turnstile);
    expect(list.map((t) => [t.id, t.guard ?? '', t.targets.join(',')])).toEqual([
      ['locked:COIN#0', 'enough', 'unlocked'],
      ['locked:COIN#1', '', ''],
      ['locked:PUSH#0', '', ''],
      ['unlocked.waiting:PUSH#0', '', 'unlocked.passing'],
      ['unlocked.passing:always#0', '', 'locked'],
      ['#turnstile:RESET#0', '', 'locked'],
    ]);
    expect(list[1]!.actions).toEqual(['refund']);
  });

  test("with inherited: 'perState', lists a root transition once per state that can take it", () => {
    const ids = listTransitions(turnstile, { inherited: 'perState' }).map((t) => t.id);
    // unlocked.passing is transient (unguarded `always`): no event is ever taken there.
    expect(ids.filter((id) => id.startsWith('#turnstile'))).toEqual([
      '#turnstile:RESET#0@locked',
      '#turnstile:RESET#0@unlocked.waiting',
    ]);
  });

  test("with inherited: 'perState', skips states that take the event themselves without a guard", () => {
    const shadow = setup({ guards: { g: () => false }, actions: { noop: () => {} } }).createMachine({
      id: 'shadow',
      initial: 'a',
      states: {
        a: { on: { X: { actions: 'noop' } } },
        b: { on: { X: { guard: 'g', target: 'a' } } },
        c: {},
      },
      on: { X: '.c' },
    });
    const ids = listTransitions(shadow, { inherited: 'perState' }).map((t) => t.id);
    expect(ids.filter((id) => id.startsWith('#shadow'))).toEqual(['#shadow:X#0@b', '#shadow:X#0@c']);
  });
});

describe('stateToString', () => {
  test('dots nested values and joins parallel regions', () => {
    expect(stateToString('connecting')).toBe('connecting');
    expect(stateToString({ buffering: 'waiting' })).toBe('buffering.waiting');
    expect(stateToString({ p: { a: 'x', b: { c: 'y' } } })).toBe('p.a.x, p.b.c.y');
  });
});

describe('coverageOf', () => {
  test('reports a guarded alternative that no path takes as uncovered', () => {
    const poor = buildPath(turnstile, [{ type: 'COIN', value: 10 }, { type: 'PUSH' }, { type: 'RESET' }]);
    const report = coverageOf(turnstile, [poor]);
    expect([...report.covered.keys()]).toEqual(['locked:COIN#1', 'locked:PUSH#0', '#turnstile:RESET#0']);
    expect(report.uncovered.map((t) => t.id)).toEqual([
      'locked:COIN#0',
      'unlocked.waiting:PUSH#0',
      'unlocked.passing:always#0',
    ]);
    expect(report.ratio).toBeCloseTo(3 / 6);
    expect(formatCoverage(report)).toContain('✗ locked:COIN#0 [enough] → unlocked');
  });

  test('accepts xstate/graph paths (leading xstate.init step) and sees eventless transitions', () => {
    const paths = createTestModel(turnstile, { events: coins }).getShortestPaths();
    const report = coverageOf(turnstile, paths);
    expect(report.covered.has('locked:COIN#0')).toBe(true);
    expect(report.covered.has('unlocked.passing:always#0')).toBe(true);
  });

  test('counts an event ignored in a state as no transition', () => {
    const path = buildPath(turnstile, [
      { type: 'COIN', value: 50 },
      { type: 'COIN', value: 50 },
    ]);
    expect(path.steps.map((s) => [s.expected, s.transitions])).toEqual([
      ['unlocked.waiting', ['locked:COIN#0']],
      ['unlocked.waiting', []],
    ]);
  });
});

describe('transitionCoveringPaths', () => {
  test('covers every transition of a small machine, with replayable steps', () => {
    const paths = transitionCoveringPaths(turnstile, coins);
    const report = coverageOf(turnstile, paths);
    expect(report.uncovered).toEqual([]);
    expect(report.ratio).toBe(1);
    expect(paths.map((p) => p.name)).toEqual([
      'COIN {value: 50} → PUSH ⇒ locked',
      'COIN {value: 10} ⇒ locked',
      'PUSH ⇒ locked',
      'RESET ⇒ locked',
    ]);
    expect(paths[0]!.initial).toBe('locked');
    expect(paths[0]!.steps.map((s) => s.expected)).toEqual(['unlocked.waiting', 'locked']);
    expect(paths[0]!.covers).toEqual([
      'locked:COIN#0',
      'unlocked.waiting:PUSH#0',
      'unlocked.passing:always#0',
    ]);
  });

  test('cannot cover a guarded alternative whose payload was not supplied, and says so', () => {
    const paths = transitionCoveringPaths(turnstile, [{ type: 'COIN', value: 10 }]);
    const report = coverageOf(turnstile, paths);
    expect(report.uncovered.map((t) => t.id)).toEqual([
      'locked:COIN#0',
      'unlocked.waiting:PUSH#0',
      'unlocked.passing:always#0',
    ]);
  });

  test("with inherited: 'perState', takes a root transition from every state", () => {
    const paths = transitionCoveringPaths(turnstile, coins, { inherited: 'perState' });
    const report = coverageOf(turnstile, paths, { inherited: 'perState' });
    expect(report.ratio).toBe(1);
    expect(report.covered.has('#turnstile:RESET#0@unlocked.waiting')).toBe(true);
  });
});

test('the API is typed by the machine: steps carry its own event type', () => {
  const paths = transitionCoveringPaths(engineLinkMachine, engineLinkModelEvents);
  const welcomes = paths.flatMap((p) => p.steps.map((s) => s.event)).filter((e) => e.type === 'WELCOME');
  const backlogs = welcomes.map((e) => (e.type === 'WELCOME' ? e.backlog : -1));
  expect(backlogs.length).toBeGreaterThan(0);
  for (const backlog of backlogs) expect([0, 1, 5]).toContain(backlog);
});

describe('transitionCoveringPaths with eachEvent', () => {
  test('takes every transition with every supplied event that takes it', () => {
    const supply: TurnstileEvent[] = [...coins, { type: 'COIN', value: 70 }];
    const once = transitionCoveringPaths(turnstile, supply);
    const each = transitionCoveringPaths(turnstile, supply, { eachEvent: true });
    const coinsTaken = (paths: typeof once) =>
      new Set(
        paths.flatMap((p) => p.steps.filter((s) => s.event.type === 'COIN').map((s) => formatEvent(s.event))),
      );
    expect(coinsTaken(once)).not.toContain('COIN {value: 70}');
    expect(coinsTaken(each)).toEqual(new Set(['COIN {value: 10}', 'COIN {value: 50}', 'COIN {value: 70}']));
    expect(coverageOf(turnstile, each).ratio).toBe(1);
  });
});

describe('negativeSteps', () => {
  test('tries every event ignored in every state the paths reach, false guards included', () => {
    const paths = transitionCoveringPaths(turnstile, coins);
    const negatives = negativeSteps(turnstile, paths, coins, {
      serializeState: (s) => JSON.stringify(s.value),
    });
    // RESET is taken everywhere (the root's), PUSH in locked only raises the alarm: neither is ignored.
    expect(negatives.map((n) => n.name)).toEqual([
      'COIN {value: 50} ⇒ unlocked.waiting ⊘ COIN {value: 10}',
      'COIN {value: 50} ⇒ unlocked.waiting ⊘ COIN {value: 50}',
    ]);
    expect(negatives[0]!.path.steps.map((s) => s.expected)).toEqual(['unlocked.waiting']);
  });

  test('a guard whose every alternative is false leaves the event ignored', () => {
    const strict = setup({
      types: { events: {} as { type: 'GO'; n: number } },
      guards: { big: ({ event }) => event.n > 1 },
    }).createMachine({
      id: 'strict',
      initial: 'a',
      states: { a: { on: { GO: { guard: 'big', target: 'b' } } }, b: {} },
    });
    const supply = [
      { type: 'GO' as const, n: 1 },
      { type: 'GO' as const, n: 2 },
    ];
    const paths = transitionCoveringPaths(strict, supply);
    expect(negativeSteps(strict, paths, supply).map((n) => n.name)).toEqual([
      '(start) ⇒ a ⊘ GO {n: 1}',
      'GO {n: 2} ⇒ b ⊘ GO {n: 1}',
      'GO {n: 2} ⇒ b ⊘ GO {n: 2}',
    ]);
  });
});

describe('RuntimeRecorder', () => {
  test("records the transitions and actions of a provided copy's actor, and nothing of other machines", () => {
    const recorder = new RuntimeRecorder(turnstile, { inherited: 'perState' });
    const counted: string[] = [];
    const provided = turnstile.provide({ actions: { count: () => counted.push('count') } });
    const actor = createActor(provided, { inspect: recorder.inspect });
    const other = createActor(engineSessionMachine, { inspect: recorder.inspect });
    actor.start();
    other.start();
    expect(recorder.take()).toEqual({ transitions: [], actions: [] });
    actor.send({ type: 'COIN', value: 50 });
    actor.send({ type: 'RESET' });
    other.send({ type: 'GOODBYE' });
    expect(recorder.take()).toEqual({
      transitions: ['locked:COIN#0', '#turnstile:RESET#0@unlocked.waiting'],
      actions: [],
    });
    actor.send({ type: 'COIN', value: 60 });
    actor.send({ type: 'PUSH' });
    expect(recorder.take().transitions).toEqual([
      'locked:COIN#0',
      'unlocked.waiting:PUSH#0',
      'unlocked.passing:always#0',
    ]);
    expect(counted).toEqual(['count']);
    expect(recorder.runtimeMachine).toBe(provided);
    expect([...recorder.taken.keys()]).toContain('unlocked.passing:always#0');
    recorder.inject({ type: 'PUSH' });
    expect(recorder.take().actions).toEqual([{ type: 'alarm', params: undefined }]);
  });
});

describe.each([
  { machine: engineLinkMachine, events: engineLinkModelEvents },
  { machine: engineSessionMachine, events: engineSessionModelEvents },
])('$machine.id: transition-covering paths (pure machine)', ({ machine, events }) => {
  test.each(['once', 'perState'] as const)('cover every transition (inherited: %s)', (inherited) => {
    const paths = transitionCoveringPaths(machine, events as never, { inherited });
    const report = coverageOf(machine, paths, { inherited });
    expect(
      report.uncovered.map((t) => t.id),
      formatCoverage(report),
    ).toEqual([]);
    expect(new Set(paths.map((p) => p.name)).size).toBe(paths.length);
    // The expected states read as the runtimes name them.
    for (const step of paths.flatMap((p) => p.steps)) expect(step.expected).toBe(stateName(step.value));
    const steps = paths.reduce((n, p) => n + p.steps.length, 0);
    console.log(
      `${machine.id} (inherited: ${inherited}): ${report.transitions.length} transitions, ` +
        `${paths.length} paths, ${steps} steps`,
    );
  });

  test('plain xstate/graph shortest paths (for comparison) need not cover every transition', () => {
    const report = coverageOf(
      machine,
      createTestModel(machine, { events: events as never }).getShortestPaths(),
    );
    console.log(
      `${machine.id}: createTestModel().getShortestPaths() alone covers ` +
        `${report.covered.size}/${report.transitions.length}`,
    );
    expect(report.covered.size).toBeGreaterThan(0);
  });
});
