import type { AnyMachineSnapshot, AnyStateMachine, AnyStateNode, EventObject } from 'xstate';
import { createStepper, replay } from './coverage.ts';
import { buildPath, formatEvent, type ModelPath } from './paths.ts';
import { descendants, type ListTransitionsOptions, stateToString } from './transitions.ts';

/**
 * A negative step: drive the path's events, then `event`, which the machine ignores in the state the path
 * ends in (no transition at all: not handled there, or every guard for it false). The runtime must take no
 * transition and change nothing visible.
 */
export interface NegativeStep<TEvent extends EventObject = EventObject> {
  /** `'… ⇒ state ⊘ EVENT'`: unique and readable. */
  readonly name: string;
  /** The way to the state (a path of the machine from its initial state). */
  readonly path: ModelPath<TEvent>;
  readonly event: TEvent;
  /** The state it is ignored in, dotted. */
  readonly state: string;
}

export interface NegativeStepOptions extends ListTransitionsOptions {
  /** Accepted (and ignored) so that the options of `transitionCoveringPaths` can be passed as they are. */
  readonly eachEvent?: boolean;
  /**
   * Which snapshots are the same state for this purpose. Default: the state value and the context, so a
   * guard reading the context is tried in each context the paths reach.
   */
  readonly serializeState?: (snapshot: AnyMachineSnapshot) => string;
}

/** Every event type any state node of the machine names (XState's internal ones excepted). */
export function eventTypes(machine: AnyStateMachine): string[] {
  const types = new Set<string>();
  for (const node of [machine.root as AnyStateNode, ...descendants(machine.root as AnyStateNode)])
    for (const descriptor of node.transitions.keys())
      if (!descriptor.startsWith('xstate.') && !descriptor.includes('*')) types.add(descriptor);
  return [...types];
}

/**
 * For every state the paths pass through (the initial one and each state after a step, final states
 * included), every event of the machine that is ignored there: the supplied variants of each event type,
 * or a bare `{ type }` for a type with none. Each comes with the shortest prefix of a path that leads there.
 */
export function negativeSteps<TEvent extends EventObject>(
  machine: AnyStateMachine,
  paths: ReadonlyArray<ModelPath<TEvent>>,
  supply: readonly TEvent[],
  options: NegativeStepOptions = {},
): Array<NegativeStep<TEvent>> {
  const serialize =
    options.serializeState ??
    ((s: AnyMachineSnapshot) => JSON.stringify({ value: s.value, context: s.context }));
  const stepper = createStepper(machine, options);
  const alphabet: TEvent[] = eventTypes(machine).flatMap((type) => {
    const variants = supply.filter((e) => e.type === type);
    return variants.length > 0 ? variants : [{ type } as TEvent];
  });
  // The shortest way to each state the paths reach.
  const ways = new Map<string, TEvent[]>();
  for (const path of paths) {
    const events = path.steps.map((s) => s.event);
    const { initial, steps } = replay(machine, events, stepper);
    const snapshots = [initial.snapshot, ...steps.map((s) => s.snapshot)];
    snapshots.forEach((snapshot, i) => {
      const key = serialize(snapshot);
      const way = events.slice(0, i);
      const known = ways.get(key);
      if (!known || way.length < known.length) ways.set(key, way);
    });
  }
  const out: Array<NegativeStep<TEvent>> = [];
  for (const way of [...ways.values()].sort((a, b) => a.length - b.length)) {
    const path = buildPath(machine, way, stepper);
    const end = replay(machine, way, stepper);
    const snapshot = end.steps.at(-1)?.snapshot ?? end.initial.snapshot;
    const state = stateToString(snapshot.value);
    for (const event of alphabet) {
      if (stepper.step(snapshot, event).transitions.length > 0) continue;
      const before = way.length === 0 ? '(start)' : way.map(formatEvent).join(' → ');
      out.push({ name: `${before} ⇒ ${state} ⊘ ${formatEvent(event)}`, path, event, state });
    }
  }
  return out;
}
