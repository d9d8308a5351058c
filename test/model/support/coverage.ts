import {
  type AnyActorScope,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  createActor,
  type EventObject,
  type InspectionEvent,
} from 'xstate';
import {
  type ListTransitionsOptions,
  listTransitions,
  type TransitionInfo,
  transitionId,
} from './transitions.ts';

/**
 * Which transition definitions a machine takes, found by asking XState itself: the machine's pure
 * `transition()` runs with an actor scope whose system reports every microstep (`@xstate.microstep`
 * inspection events carry the transition definitions they took). So eventless (`always`) transitions
 * and raised events that follow an event are seen too, and guards are evaluated exactly as at run
 * time. No action is executed (the scope's action executor does nothing; `assign` still updates
 * context, as it is resolved by XState itself).
 */
export interface Stepper {
  /** The machine's initial snapshot and the transitions taken while starting (eventless ones, if any). */
  initial(): StepResult;
  /** The snapshot after `event`, and the transitions it took. A snapshot that is no longer active takes no event. */
  step(snapshot: AnyMachineSnapshot, event: EventObject): StepResult;
}

export interface StepResult {
  readonly snapshot: AnyMachineSnapshot;
  /** Ids (as in `listTransitions`) of the transitions taken, in order. Empty when the event was ignored. */
  readonly transitions: readonly string[];
}

export function createStepper(machine: AnyStateMachine, options: ListTransitionsOptions = {}): Stepper {
  const self = createActor(machine);
  let taken: string[] = [];
  let before: AnyMachineSnapshot | undefined;
  self.system.inspect((ev: InspectionEvent) => {
    if (ev.type !== '@xstate.microstep' || ev.actorRef !== self) return;
    for (const t of ev._transitions) taken.push(...takenTransitionIds(t, before, options));
    before = ev.snapshot as AnyMachineSnapshot;
  });
  const scope: AnyActorScope = {
    self,
    id: '',
    sessionId: '',
    logger: () => {},
    defer: () => {},
    stopChild: () => {},
    emit: () => {},
    actionExecutor: () => {},
    system: self.system,
  };
  const run = (prev: AnyMachineSnapshot | undefined, fn: () => AnyMachineSnapshot): StepResult => {
    taken = [];
    before = prev;
    const snapshot = fn();
    return { snapshot, transitions: taken };
  };
  return {
    initial: () => run(undefined, () => machine.getInitialSnapshot(scope, undefined) as AnyMachineSnapshot),
    step: (snapshot, event) => {
      if (snapshot.status !== 'active') return { snapshot, transitions: [] };
      return run(snapshot, () => machine.transition(snapshot, event, scope) as AnyMachineSnapshot);
    },
  };
}

/**
 * The ids (as in `listTransitions`) under which a transition definition counts when taken from
 * `before`: with `inherited: 'perState'`, a transition defined above the atomic states counts once per
 * atomic state it was taken from.
 */
export function takenTransitionIds(
  t: AnyTransitionDefinition,
  before: AnyMachineSnapshot | undefined,
  options: ListTransitionsOptions = {},
): string[] {
  if (options.inherited !== 'perState' || !before) return [transitionId(t, options)];
  const source: AnyStateNode = t.source;
  const from = (before._nodes as AnyStateNode[]).filter(
    (n) => (n.type === 'atomic' || n.type === 'final') && n !== source && isDescendant(n, source),
  );
  return from.length === 0 ? [transitionId(t, options)] : from.map((n) => transitionId(t, options, n));
}

function isDescendant(node: AnyStateNode, ancestor: AnyStateNode): boolean {
  for (let p = node.parent; p; p = p.parent) if (p === ancestor) return true;
  return false;
}

/** A path as produced by `xstate/graph` (whose first step is `xstate.init`) or by `transitionCoveringPaths`. */
export interface PathLike {
  readonly steps: ReadonlyArray<{ readonly event: EventObject }>;
}

/** One step of a replayed path. */
export interface ReplayedStep {
  readonly event: EventObject;
  readonly snapshot: AnyMachineSnapshot;
  readonly transitions: readonly string[];
}

/**
 * Replays the events of a path on the machine from its initial snapshot (an `xstate.init` event, as
 * `xstate/graph` puts at the start of its paths, is skipped: the initial snapshot stands for it).
 */
export function replay(
  machine: AnyStateMachine,
  events: Iterable<EventObject>,
  stepper: Stepper = createStepper(machine),
): { initial: StepResult; steps: ReplayedStep[] } {
  const initial = stepper.initial();
  let snapshot = initial.snapshot;
  const steps: ReplayedStep[] = [];
  for (const event of events) {
    if (event.type === 'xstate.init') continue;
    const result = stepper.step(snapshot, event);
    snapshot = result.snapshot;
    steps.push({ event, snapshot, transitions: result.transitions });
  }
  return { initial, steps };
}

export interface CoverageReport {
  /** Every transition of the definition (see `listTransitions` for how inherited ones count). */
  readonly transitions: readonly TransitionInfo[];
  /** Ids taken at least once, with how many times. */
  readonly covered: ReadonlyMap<string, number>;
  readonly uncovered: readonly TransitionInfo[];
  /** covered / total, 1 for a machine without transitions. */
  readonly ratio: number;
}

/** Which of the machine's transitions the paths take, by replaying each path on the machine. */
export function coverageOf(
  machine: AnyStateMachine,
  paths: Iterable<PathLike>,
  options: ListTransitionsOptions = {},
): CoverageReport {
  const transitions = listTransitions(machine, options);
  const stepper = createStepper(machine, options);
  const counts = new Map<string, number>();
  const add = (ids: readonly string[]) => {
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  };
  for (const path of paths) {
    const { initial, steps } = replay(
      machine,
      path.steps.map((s) => s.event),
      stepper,
    );
    add(initial.transitions);
    for (const step of steps) add(step.transitions);
  }
  const known = new Set(transitions.map((t) => t.id));
  for (const id of counts.keys()) {
    if (!known.has(id))
      throw new Error(`coverage: took transition ${id}, which listTransitions does not know`);
  }
  const covered = new Map(transitions.filter((t) => counts.has(t.id)).map((t) => [t.id, counts.get(t.id)!]));
  const uncovered = transitions.filter((t) => !counts.has(t.id));
  return {
    transitions,
    covered,
    uncovered,
    ratio: transitions.length === 0 ? 1 : covered.size / transitions.length,
  };
}

/** One line per transition: `✓ id → targets` or `✗ id → targets`, for test output and failure messages. */
export function formatCoverage(report: CoverageReport): string {
  const lines = report.transitions.map((t) => {
    const mark = report.covered.has(t.id) ? '✓' : '✗';
    const guard = t.guard ? ` [${t.guard}]` : '';
    const target = t.targets.length > 0 ? t.targets.join(', ') : '(no target)';
    return `${mark} ${t.id}${guard} → ${target}`;
  });
  const pct = (report.ratio * 100).toFixed(1);
  lines.push(`${report.covered.size}/${report.transitions.length} transitions covered (${pct}%)`);
  return lines.join('\n');
}
