import { describe, expect, it } from 'vitest';
import type { AnyStateMachine, EventObject } from 'xstate';
import { coverageOf, formatCoverage } from './coverage.ts';
import type { NegativeStep } from './negativeSteps.ts';
import { formatEvent, type ModelPath, type ModelStep } from './paths.ts';
import { type Observed, RuntimeRecorder } from './runtimeRecorder.ts';
import { type ListTransitionsOptions, listTransitions } from './transitions.ts';

/**
 * How a model test runs one machine's real runtime: start it, make it experience each event the way
 * production does, and say what must be visible after each step.
 */
export interface RuntimeHarness<Runtime, TEvent extends EventObject> {
  readonly machine: AnyStateMachine;
  /** How transitions are counted (as for the paths). */
  readonly options?: ListTransitionsOptions;
  /** A fresh runtime, its machine's inspection events going to `recorder`. */
  start(recorder: RuntimeRecorder, path: ModelPath<TEvent>): Promise<Runtime>;
  /** The runtime's state, dotted as `stateName` names it. */
  state(runtime: Runtime): string | Promise<string>;
  /**
   * Makes the runtime experience `event` as in production (a frame, a refused connect, time passing).
   * Returns false, having done nothing, when nothing in production can cause it in the current state;
   * `{ lead }` when causing it takes the runtime through other transitions first (hours passing bring
   * reconnect attempts before the error threshold), listed in order.
   */
  cause(runtime: Runtime, event: TEvent): Promise<Caused>;
  /** The effects a step must have had, beyond the state it leads to (what the runtime sent, scheduled, stored). */
  checkStep(runtime: Runtime, step: ModelStep<TEvent>, observed: Observed): void | Promise<void>;
  /** Everything visible that the machine governs: an ignored event must leave it as it was. */
  visible(runtime: Runtime): unknown | Promise<unknown>;
  /** The design's promises, written from it and not from the machine: checked after every step. */
  invariants(runtime: Runtime): void | Promise<void>;
  /**
   * `'state ⊘ EVENT'` → why production cannot cause that event in that state (in some or all of the ways
   * the paths reach it). A negative step that cannot be caused is sent to the runtime's own actor instead;
   * one that is not listed here must be caused.
   */
  readonly uncausable: Readonly<Record<string, string>>;
  stop(runtime: Runtime): Promise<void>;
}

/** What causing an event took: nothing possible (false), just the event (true), or other transitions first. */
export type Caused = boolean | { readonly lead: readonly string[] };

async function drivePath<Runtime, TEvent extends EventObject>(
  harness: RuntimeHarness<Runtime, TEvent>,
  recorder: RuntimeRecorder,
  runtime: Runtime,
  path: ModelPath<TEvent>,
): Promise<void> {
  recorder.take();
  expect(await harness.state(runtime), 'initial state').toBe(path.initial);
  await harness.invariants(runtime);
  for (const [i, step] of path.steps.entries()) {
    const where = `step ${i + 1}, ${formatEvent(step.event)}`;
    const from = await harness.state(runtime);
    const caused = await harness.cause(runtime, step.event);
    expect(caused, `${where}: cannot be caused in ${from}`).not.toBe(false);
    const lead = typeof caused === 'object' ? caused.lead : [];
    const observed = recorder.take();
    expect(observed.transitions, `${where}: transitions the runtime took`).toEqual([
      ...lead,
      ...step.transitions,
    ]);
    expect(await harness.state(runtime), `${where}: state`).toBe(step.expected);
    await harness.checkStep(runtime, step, observed);
    await harness.invariants(runtime);
  }
}

/**
 * A scenario: events with the state each must lead to, written by hand from the design's promises and not
 * from the machine (a rejected engine told to reconnect connects at once; its backoff starts afresh). The
 * model is no oracle here, so a wrong or missing transition in the machine makes a scenario fail.
 */
export interface Scenario<TEvent extends EventObject> {
  readonly name: string;
  readonly steps: ReadonlyArray<readonly [event: TEvent, expected: string]>;
}

/** Drives a scenario through a fresh runtime: each event caused, its state as written, effects, invariants. */
export async function runScenario<Runtime, TEvent extends EventObject>(
  harness: RuntimeHarness<Runtime, TEvent>,
  scenario: Scenario<TEvent>,
): Promise<void> {
  const recorder = new RuntimeRecorder(harness.machine, harness.options);
  const path = { name: scenario.name, initial: '', steps: [], covers: [] };
  const runtime = await harness.start(recorder, path);
  try {
    recorder.take();
    await harness.invariants(runtime);
    for (const [i, [event, expected]] of scenario.steps.entries()) {
      const where = `step ${i + 1}, ${formatEvent(event)}`;
      const caused = await harness.cause(runtime, event);
      expect(caused, `${where}: cannot be caused in ${await harness.state(runtime)}`).not.toBe(false);
      const lead = typeof caused === 'object' ? caused.lead.length : 0;
      const observed = recorder.take();
      expect(await harness.state(runtime), `${where}: state`).toBe(expected);
      const step = {
        event,
        expected,
        value: expected,
        context: undefined,
        transitions: observed.transitions.slice(lead),
      };
      await harness.checkStep(runtime, step, observed);
      await harness.invariants(runtime);
    }
  } finally {
    await harness.stop(runtime);
  }
}

/** Drives one path through a fresh runtime; returns the transitions the runtime took. */
export async function runPath<Runtime, TEvent extends EventObject>(
  harness: RuntimeHarness<Runtime, TEvent>,
  path: ModelPath<TEvent>,
): Promise<ReadonlyMap<string, number>> {
  const recorder = new RuntimeRecorder(harness.machine, harness.options);
  const runtime = await harness.start(recorder, path);
  try {
    await drivePath(harness, recorder, runtime, path);
  } finally {
    await harness.stop(runtime);
  }
  return recorder.taken;
}

/** Drives a negative step: its path, then the ignored event, which must change nothing. */
export async function runNegativeStep<Runtime, TEvent extends EventObject>(
  harness: RuntimeHarness<Runtime, TEvent>,
  negative: NegativeStep<TEvent>,
): Promise<void> {
  const recorder = new RuntimeRecorder(harness.machine, harness.options);
  const runtime = await harness.start(recorder, negative.path);
  try {
    await drivePath(harness, recorder, runtime, negative.path);
    const before = await harness.visible(runtime);
    recorder.take();
    const key = `${negative.state} ⊘ ${negative.event.type}`;
    const caused = await harness.cause(runtime, negative.event);
    expect(typeof caused, 'a negative step takes nothing on the way').toBe('boolean');
    if (!caused)
      expect(harness.uncausable, `${key} cannot be caused, and is not listed`).toHaveProperty([key]);
    // A stopped actor takes no event at all: there is nothing to send it.
    if (!caused && recorder.actor.getSnapshot().status === 'active') recorder.inject(negative.event);
    expect(recorder.take().transitions, 'transitions the runtime took').toEqual([]);
    expect(await harness.state(runtime)).toBe(negative.state);
    expect(await harness.visible(runtime)).toEqual(before);
    await harness.invariants(runtime);
  } finally {
    await harness.stop(runtime);
  }
}

/**
 * The model test of one machine: every path through the real runtime (transitions compared step by step
 * with what the runtime's actor took, effects and invariants after each step), the runtime's own
 * coverage, and every negative step.
 */
export function describeModel<Runtime, TEvent extends EventObject>(
  harness: RuntimeHarness<Runtime, TEvent>,
  paths: ReadonlyArray<ModelPath<TEvent>>,
  negatives: ReadonlyArray<NegativeStep<TEvent>>,
): void {
  const options = harness.options ?? {};
  describe(`${harness.machine.id} model`, () => {
    it('the generated paths take every transition of the machine', () => {
      const report = coverageOf(harness.machine, paths, options);
      expect(report.uncovered, formatCoverage(report)).toEqual([]);
    });

    for (const path of paths) it(path.name, () => runPath(harness, path).then(() => undefined));

    it('the runtime itself takes every transition of the machine along the paths', async () => {
      const taken = new Set<string>();
      for (const path of paths) for (const id of (await runPath(harness, path)).keys()) taken.add(id);
      const all = listTransitions(harness.machine, options).map((t) => t.id);
      expect(all.filter((id) => !taken.has(id))).toEqual([]);
      expect([...taken].filter((id) => !all.includes(id))).toEqual([]);
    });

    describe('ignored events change nothing', () => {
      it('every state the paths reach has its negative steps', () => {
        const states = new Set(paths.flatMap((p) => [p.initial, ...p.steps.map((s) => s.expected)]));
        expect(new Set(negatives.map((n) => n.state))).toEqual(states);
      });
      it('the uncausable list names only negative steps', () => {
        const keys = new Set(negatives.map((n) => `${n.state} ⊘ ${n.event.type}`));
        expect(Object.keys(harness.uncausable).filter((key) => !keys.has(key))).toEqual([]);
      });
      for (const negative of negatives) it(negative.name, () => runNegativeStep(harness, negative));
    });
  });
}

/** What a model test file builds: the runtime harness, the paths and the negative steps. */
export interface ModelTest<Runtime, TEvent extends EventObject> {
  readonly harness: RuntimeHarness<Runtime, TEvent>;
  readonly paths: ReadonlyArray<ModelPath<TEvent>>;
  readonly negatives: ReadonlyArray<NegativeStep<TEvent>>;
  readonly scenarios?: ReadonlyArray<Scenario<TEvent>>;
}

/**
 * `describeModel` for a model that `build` loads (with dynamic imports) and generates. When loading the
 * machine or generating its paths throws (a machine definition XState refuses, say), that is one failing
 * test instead of a file that cannot be collected: a test runner, Stryker's among them, then reports it
 * as a failure.
 */
export async function describeModelOf<Runtime, TEvent extends EventObject>(
  build: () => Promise<ModelTest<Runtime, TEvent>>,
): Promise<void> {
  let model: ModelTest<Runtime, TEvent>;
  try {
    model = await build();
  } catch (error) {
    it('the machine loads and its model can be built', () => {
      throw error;
    });
    return;
  }
  describeModel(model.harness, model.paths, model.negatives);
  const scenarios = model.scenarios ?? [];
  if (scenarios.length > 0)
    describe(`${model.harness.machine.id} scenarios (states written from the promises)`, () => {
      for (const scenario of scenarios) it(scenario.name, () => runScenario(model.harness, scenario));
    });
}
