import type {
  AnyMachineSnapshot,
  AnyStateMachine,
  AnyStateNode,
  EventFromLogic,
  EventObject,
  StateValue,
} from 'xstate';
import { createTestModel } from 'xstate/graph';
import { createStepper, replay } from './coverage.ts';
import { type ListTransitionsOptions, listTransitions, stateToString } from './transitions.ts';

/** One step of a model path: send `event` to the runtime, then its state must read `expected`. */
export interface ModelStep<TEvent extends EventObject = EventObject> {
  readonly event: TEvent;
  /** The machine's state after the event, dotted (`'buffering.waiting'`): what the runtime must show. */
  readonly expected: string;
  /** The same as a state value. */
  readonly value: StateValue;
  /** The machine's context after the event (for runtimes that expose counters). */
  readonly context: unknown;
  /** Ids of the transitions this step takes (empty when the event is ignored in that state). */
  readonly transitions: readonly string[];
}

/** A replayable path from the machine's initial state. */
export interface ModelPath<TEvent extends EventObject = EventObject> {
  /** Unique and readable: the events in order and the final state, e.g. `SOCKET_OPENED → WELCOME {backlog: 5} ⇒ flushing`. */
  readonly name: string;
  /** The state before the first step (the machine's initial state), dotted. */
  readonly initial: string;
  readonly steps: ReadonlyArray<ModelStep<TEvent>>;
  /** Distinct ids of the transitions the path takes, in the order first taken. */
  readonly covers: readonly string[];
}

/** The events to try: a list, or a function of the current snapshot (as in `xstate/graph`). */
export type EventSupply<TEvent extends EventObject> =
  | readonly TEvent[]
  | ((snapshot: AnyMachineSnapshot) => readonly TEvent[]);

export interface CoveringPathsOptions extends ListTransitionsOptions {
  /**
   * Which snapshots count as the same vertex of the state graph. Default: state value and context
   * (exact). Give a coarser key when the context is unbounded or irrelevant to guards, e.g.
   * `(s) => JSON.stringify(s.value)`.
   */
  readonly serializeState?: (snapshot: AnyMachineSnapshot) => string;
  /** Stop (with an error) after this many traversal steps. Default 100 000. */
  readonly limit?: number;
  /**
   * Take every transition with every supplied event that can take it, not just with one of them: a
   * `SOCKET_CLOSED` with `retryAfterMs` and one without, each from every state that handles it. Without
   * this, a variant of an event that takes the same transition as another is never chosen, and whatever
   * the runtime does with its payload goes untested. Default false.
   */
  readonly eachEvent?: boolean;
}

/** `WELCOME {backlog: 5}`, `RETRY_DUE`. */
export function formatEvent(event: EventObject): string {
  const { type, ...payload } = event as EventObject & Record<string, unknown>;
  const entries = Object.entries(payload);
  if (entries.length === 0) return type;
  return `${type} {${entries.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ')}}`;
}

const defaultSerialize = (s: AnyMachineSnapshot): string =>
  JSON.stringify({ value: s.value, context: s.context });

function matchesDescriptor(type: string, descriptor: string): boolean {
  if (descriptor === type || descriptor === '*') return true;
  return descriptor.endsWith('.*') && type.startsWith(descriptor.slice(0, -1));
}

/**
 * The events to try in a snapshot: for every event descriptor of an active state node (explicitly
 * ignored ones included, unlike XState's traversal), the supplied events of that type, or a bare
 * `{ type }` when none is supplied. Wildcard descriptors only get supplied events; XState's internal
 * events (`xstate.done.*`, `xstate.after.*`) are never sent from outside.
 */
function eventsFor<TEvent extends EventObject>(
  snapshot: AnyMachineSnapshot,
  supply: EventSupply<TEvent>,
): TEvent[] {
  if (snapshot.status !== 'active') return [];
  const supplied = typeof supply === 'function' ? supply(snapshot) : supply;
  const out: TEvent[] = [];
  const seen = new Set<string>();
  const push = (e: TEvent) => {
    const key = JSON.stringify(e);
    if (!seen.has(key)) {
      seen.add(key);
      out.push(e);
    }
  };
  for (const node of snapshot._nodes as AnyStateNode[]) {
    for (const descriptor of node.transitions.keys()) {
      if (descriptor.startsWith('xstate.')) continue;
      const matching = supplied.filter((e) => matchesDescriptor(e.type, descriptor));
      if (matching.length > 0) matching.forEach(push);
      else if (!descriptor.includes('*')) push({ type: descriptor } as TEvent);
    }
  }
  return out;
}

/**
 * A set of replayable paths that together take every transition of the machine at least once
 * (every transition that can be taken with the supplied events, that is: check with `coverageOf`).
 *
 * How: XState's own traversal (`createTestModel(machine).getShortestPaths`, with the supplied events)
 * gives a shortest path to every reachable snapshot; each path is extended by one step for every event
 * that can be sent in its final snapshot, and for each transition the shortest such candidate that
 * takes it is kept. Then candidates whose transitions are all taken by longer kept ones are dropped
 * (which removes prefixes too). Paths come out in the document order of the transitions they were
 * chosen for; the result is deterministic.
 */
export function transitionCoveringPaths<TMachine extends AnyStateMachine>(
  machine: TMachine,
  events: EventSupply<EventFromLogic<TMachine>>,
  options: CoveringPathsOptions = {},
): Array<ModelPath<EventFromLogic<TMachine>>> {
  type TEvent = EventFromLogic<TMachine>;
  const serialize = options.serializeState ?? defaultSerialize;
  const limit = options.limit ?? 100_000;
  const model = createTestModel(machine, {
    events: (snapshot) => eventsFor(snapshot as AnyMachineSnapshot, events),
    filterEvents: (snapshot) => (snapshot as AnyMachineSnapshot).status === 'active',
    serializeState: (snapshot) => serialize(snapshot as AnyMachineSnapshot),
    limit,
  });
  let statePaths: ReturnType<typeof model.getShortestPaths>;
  try {
    statePaths = model.getShortestPaths({ allowDuplicatePaths: true });
  } catch (error) {
    if (error instanceof Error && /limit exceeded/.test(error.message)) {
      throw new Error(
        `transitionCoveringPaths: more than ${limit} traversal steps for ${machine.id}; ` +
          'the context is probably unbounded: pass a coarser serializeState',
      );
    }
    throw error;
  }
  // Shortest first: a transition is credited to the first (so shortest) candidate that takes it.
  const prefixes = statePaths
    .map((p) => p.steps.map((s) => s.event as TEvent).filter((e) => e.type !== 'xstate.init'))
    .sort((a, b) => a.length - b.length);

  const stepper = createStepper(machine, options);
  const order = new Map(listTransitions(machine, options).map((t, i) => [t.id, i]));
  const keyOf = (id: string, event: EventObject) => (options.eachEvent ? `${id} ${formatEvent(event)}` : id);
  const chosen = new Map<string, TEvent[]>(); // transition key → shortest event sequence taking it
  for (const prefix of prefixes) {
    const { initial, steps } = replay(machine, prefix, stepper);
    for (const id of initial.transitions) if (!chosen.has(id)) chosen.set(id, []);
    const last = steps.at(-1)?.snapshot ?? initial.snapshot;
    for (const event of eventsFor(last, events)) {
      for (const id of stepper.step(last, event).transitions) {
        const key = keyOf(id, event);
        if (!chosen.has(key)) chosen.set(key, [...prefix, event]);
      }
    }
  }
  const keysOf = (path: ModelPath<TEvent>) => [
    ...new Set(path.steps.flatMap((s) => s.transitions.map((id) => keyOf(id, s.event)))),
  ];
  const idOfKey = (key: string) => key.split(' ')[0]!;

  // Build each distinct candidate once, then keep the longest first while they add something new.
  const candidates = new Map<string, ModelPath<TEvent>>();
  for (const seq of chosen.values()) {
    const path = buildPath(machine, seq, stepper);
    candidates.set(path.name, path);
  }
  const byLengthDesc = [...candidates.values()].sort(
    (a, b) => b.steps.length - a.steps.length || firstIndex(a, order) - firstIndex(b, order),
  );
  const kept: Array<{ path: ModelPath<TEvent>; rank: number }> = [];
  const taken = new Set<string>();
  for (const path of byLengthDesc) {
    const keys = path.steps.length === 0 ? path.covers : keysOf(path);
    const fresh = keys.filter((key) => !taken.has(key));
    if (fresh.length === 0) continue;
    for (const key of keys) taken.add(key);
    kept.push({
      path,
      rank: Math.min(...fresh.map((key) => order.get(idOfKey(key)) ?? Number.MAX_SAFE_INTEGER)),
    });
  }
  return kept.sort((a, b) => a.rank - b.rank).map((k) => k.path);
}

function firstIndex(path: ModelPath<EventObject>, order: Map<string, number>): number {
  return Math.min(
    Number.MAX_SAFE_INTEGER,
    ...path.covers.map((id) => order.get(id) ?? Number.MAX_SAFE_INTEGER),
  );
}

/** Replays `events` on the machine and records what a runtime must show after each. */
export function buildPath<TEvent extends EventObject>(
  machine: AnyStateMachine,
  events: readonly TEvent[],
  stepper = createStepper(machine),
): ModelPath<TEvent> {
  const { initial, steps } = replay(machine, events, stepper);
  const covers = new Set<string>(initial.transitions);
  const modelSteps = steps.map((s) => {
    for (const id of s.transitions) covers.add(id);
    return {
      event: s.event as TEvent,
      expected: stateToString(s.snapshot.value),
      value: s.snapshot.value,
      context: s.snapshot.context,
      transitions: s.transitions,
    };
  });
  const end = modelSteps.at(-1)?.expected ?? stateToString(initial.snapshot.value);
  const name = `${modelSteps.length === 0 ? '(start)' : modelSteps.map((s) => formatEvent(s.event)).join(' → ')} ⇒ ${end}`;
  return { name, initial: stateToString(initial.snapshot.value), steps: modelSteps, covers: [...covers] };
}
