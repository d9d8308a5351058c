import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type AnyStateMachine, assign, setup } from 'xstate';
import {
  type ModelPath,
  type RuntimeHarness,
  RuntimeRecorder,
  transitionCoveringPaths,
} from './support/index.ts';
import {
  impureCalls,
  impureSource,
  impureStateNodes,
  isAssign,
  referencedImplementations,
} from './support/purity.ts';

/**
 * machines/ is the functional core: time and I/O enter as events, effects leave as named actions that
 * the runtimes provide. This holds it to that, three ways: the definitions (no invoke, no after, no
 * delayed transition), the source text (no timer, clock, randomness, I/O, process, require or
 * side-effect import), and the running machines (their own actions reach for none of those). And every
 * effect a machine names is one its runtime provides.
 */
const machinesDir = resolve(import.meta.dirname, '../../machines');
const serializeByValue = { serializeState: (s: { value: unknown }) => JSON.stringify(s.value) };

interface Case {
  readonly machine: AnyStateMachine;
  // biome-ignore lint/suspicious/noExplicitAny: one list of harnesses of different runtimes
  readonly harness: RuntimeHarness<any, any>;
  // biome-ignore lint/suspicious/noExplicitAny: one list of event supplies of different machines
  readonly events: readonly any[];
}

/** The machines and their runtimes, loaded here so that a machine XState refuses is a failing test. */
async function loadCases(): Promise<Case[]> {
  const events = await import('./support/events.ts');
  return [
    {
      machine: (await import('../../machines/engineLink.ts')).engineLinkMachine,
      harness: (await import('./runtimes/engineLinkRuntime.ts')).engineLinkHarness,
      events: events.engineLinkModelEvents,
    },
    {
      machine: (await import('../../machines/engineSession.ts')).engineSessionMachine,
      harness: (await import('./runtimes/engineSessionRuntime.ts')).engineSessionHarness,
      events: events.engineSessionModelEvents,
    },
    {
      machine: (await import('../../machines/runReconciliation.ts')).runReconciliationMachine,
      harness: (await import('./runtimes/runReconciliationRuntime.ts')).runReconciliationHarness,
      events: events.runReconciliationModelEvents,
    },
    {
      machine: (await import('../../machines/offlineWatch.ts')).offlineWatchMachine,
      harness: (await import('./runtimes/offlineWatchRuntime.ts')).offlineWatchHarness,
      events: [],
    },
    {
      machine: (await import('../../machines/hardwareRecovery.ts')).hardwareRecoveryMachine,
      harness: (await import('./runtimes/hardwareRecoveryRuntime.ts')).hardwareRecoveryHarness,
      events: events.hardwareRecoveryModelEvents,
    },
  ];
}

const loaded = await loadCases().then(
  (cases) => ({ cases, error: undefined }),
  (error: unknown) => ({ cases: [] as Case[], error }),
);
const cases = loaded.cases;

it('the machines and their runtimes load', () => {
  if (loaded.error) throw loaded.error;
  expect(cases.map((c) => c.machine.id)).toEqual([
    'engineLink',
    'engineSession',
    'runReconciliation',
    'offlineWatch',
    'hardwareRecovery',
  ]);
});

describe('machines/ source', () => {
  const files = readdirSync(machinesDir).filter((name) => name.endsWith('.ts'));

  it('finds the machine files', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'engineLink.ts',
        'engineSession.ts',
        'runReconciliation.ts',
        'hardwareRecovery.ts',
      ]),
    );
  });

  it.each(
    files,
  )('%s uses no timer, clock, randomness, I/O, process, require or side-effect import', (name) => {
    expect(impureSource(name, readFileSync(join(machinesDir, name), 'utf8'))).toEqual([]);
  });

  it('the check finds each of those', () => {
    const found = impureSource(
      'bad.ts',
      [
        "import 'node:fs';",
        "import { x } from '../src/clock.ts';",
        "const fs = require('node:fs');",
        "const later = () => import('./other.ts');",
        'const a = { run: () => setTimeout(() => {}, 5), at: Date.now(), r: Math.random() };',
        "const b = () => fetch('http://x'); const c = process.env; const d = { setTimeout: 1 }.setTimeout;",
      ].join('\n'),
    );
    expect(found).toEqual([
      "bad.ts:1: side-effect import 'node:fs'",
      "bad.ts:2: imports '../src/clock.ts'",
      'bad.ts:3: require',
      'bad.ts:4: dynamic import()',
      'bad.ts:5: setTimeout',
      'bad.ts:5: Date',
      'bad.ts:5: Math.random',
      'bad.ts:6: fetch',
      'bad.ts:6: process',
    ]);
  });
});

describe.each(cases)('$machine.id', ({ machine, harness, events }) => {
  it('has no invoke, no after and no delayed transition in any state node', () => {
    expect(impureStateNodes(machine)).toEqual([]);
  });

  it('its own actions, run along paths that take every transition, call no timer, clock, randomness or I/O', () => {
    const paths = transitionCoveringPaths(machine, events, { inherited: 'perState', ...serializeByValue });
    expect(
      impureCalls(
        machine,
        paths.map((p) => p.steps.map((s) => s.event)),
      ),
    ).toEqual([]);
  });

  it('every action and guard it names is declared', () => {
    const { actions, guards } = referencedImplementations(machine);
    expect(actions.filter((name) => !(name in machine.implementations.actions))).toEqual([]);
    expect(guards.filter((name) => !(name in machine.implementations.guards))).toEqual([]);
  });

  it("every action that is not an assign is provided by its runtime's provide()", async () => {
    const recorder = new RuntimeRecorder(machine);
    const start: ModelPath = { name: '(start)', initial: '', steps: [], covers: [] };
    const runtime = await harness.start(recorder, start);
    try {
      // A runtime that makes its actor on demand (a run's, on its first record) is given its first event.
      if (!recorder.started) {
        const [path] = transitionCoveringPaths(machine, events, serializeByValue);
        await harness.cause(runtime, path!.steps[0]!.event);
      }
      const provided = recorder.runtimeMachine.implementations.actions;
      const own = machine.implementations.actions;
      const effects = Object.keys(own).filter((name) => !isAssign(own[name]));
      expect(effects.length).toBeGreaterThan(0);
      expect(effects.filter((name) => provided[name] === own[name] || provided[name] === undefined)).toEqual(
        [],
      );
      // And the runtime provides nothing the machine does not name.
      expect(Object.keys(provided).filter((name) => !(name in own))).toEqual([]);
    } finally {
      await harness.stop(runtime);
    }
  });
});

describe('the purity checks themselves', () => {
  const sloppy = setup({
    actions: {
      tick: () => {
        setTimeout(() => {}, 0);
      },
      stamp: assign({ at: () => Date.now() }),
    },
  }).createMachine({
    id: 'sloppy',
    context: { at: 0 },
    initial: 'a',
    states: {
      a: { entry: 'tick', on: { GO: { target: 'b', actions: 'stamp' } }, after: { 1000: 'b' } },
      // (Both wrong on purpose: an actor nobody provides, an action nobody declared.)
      b: { invoke: { src: 'missing' } as never, entry: 'forgotten' as never },
    },
  });

  it('find what a sloppy machine does', () => {
    expect(impureStateNodes(sloppy)).toEqual([
      'a: after',
      'a: delayed transition xstate.after.1000.sloppy.a',
      'b: invoke',
    ]);
    expect(referencedImplementations(sloppy).actions).toEqual(['tick', 'stamp', 'forgotten']);
    expect(isAssign(sloppy.implementations.actions.stamp)).toBe(true);
    expect(isAssign(sloppy.implementations.actions.tick)).toBe(false);
    expect(impureCalls(sloppy, [[{ type: 'GO' }]], /purity\.test\.ts/)).toEqual([
      expect.stringMatching(/^setTimeout from /),
      expect.stringMatching(/^now from /),
    ]);
  });
});
